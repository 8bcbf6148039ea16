import type { Redis } from 'ioredis';
import type { AlertsConfig } from '../config/config-schema';
import { getLogger } from '../logger';
import type { ClusterStateView } from './cluster-state';

const log = getLogger('alerts');

export interface Alert {
  kind: 'database_down' | 'replication_lag' | 'consistency';
  node: string;
  message: string;
  /** Seconds before the same alert may fire again. */
  cooldownS: number;
}

/** Which alerts the observed cluster raises (SPEC §7). Pure. */
export function evaluateAlerts(view: ClusterStateView, config: AlertsConfig): Alert[] {
  const alerts: Alert[] = [];
  const down = config.database_down;
  const lag = config.replication_lag;
  for (const n of view.nodes) {
    if (down.enabled && n.consecutiveFailures >= down.threshold) {
      alerts.push({
        kind: 'database_down',
        node: n.name,
        message: `${n.name}${n.name === view.primary ? ' (primary)' : ''} failed ${n.consecutiveFailures} consecutive health checks: ${n.lastError ?? 'no answer'}`,
        cooldownS: down.cooldown_s,
      });
    }
    if (lag.enabled && n.inRecovery && n.lagSeconds !== null && n.lagSeconds > lag.threshold_s) {
      alerts.push({ kind: 'replication_lag', node: n.name, message: `${n.name} replays ${Math.round(n.lagSeconds)} s behind the primary`, cooldownS: lag.cooldown_s });
    }
  }
  return alerts;
}

/**
 * Delivers alerts to the log and the webhook, each at most once per cooldown across all
 * processes (a Redis key per alert and node). A failing webhook is logged, never fatal.
 */
export class AlertSender {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly config: AlertsConfig) {}

  async send(alerts: Alert[]): Promise<Alert[]> {
    const sent: Alert[] = [];
    for (const alert of alerts) {
      const key = `${this.prefix}:alerts:${alert.kind}:${alert.node}`;
      if (!(await this.redis.set(key, Date.now(), 'EX', alert.cooldownS, 'NX'))) continue;
      log.error('alert', { kind: alert.kind, node: alert.node, message: alert.message });
      sent.push(alert);
      if (this.config.webhook_url) {
        await fetch(this.config.webhook_url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ kind: alert.kind, node: alert.node, message: alert.message, at: new Date().toISOString() }),
          signal: AbortSignal.timeout(5000),
        }).then(
          (res) => (res.ok ? undefined : log.warn('alert webhook answered with an error', { status: res.status })),
          (err) => log.warn('alert webhook unreachable', { error: (err as Error).message }),
        );
      }
    }
    return sent;
  }
}
