import { publishEvent } from '../events/event-bus';
import type { Redis } from 'ioredis';
import type { AlertsConfig } from '../config/config-schema';
import { getLogger } from '../logger';
import { builtinNotifiers } from '../plugins/load-plugins';
import type { PluginHost } from '../plugins/plugin-host';
import type { ClusterStateView } from '../ha/cluster-state';

const log = getLogger('alerts');

export interface Alert {
  kind: 'database_down' | 'replication_lag' | 'consistency' | 'disk_space' | 'backup';
  /** The database node, or the host (disk_space). */
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

/** The disk of `host`'s image store, `usedRatio` full (0–1): an alert past the threshold. Pure. */
export function evaluateDiskAlert(usedRatio: number, host: string, dataDir: string, config: AlertsConfig): Alert | null {
  const rule = config.disk_space;
  const percent = usedRatio * 100;
  if (!rule.enabled || percent < rule.threshold_percent) return null;
  return { kind: 'disk_space', node: host, message: `the disk of ${host}'s image store (${dataDir}) is ${percent.toFixed(1)} % full (alert at ${rule.threshold_percent} %)`, cooldownS: rule.cooldown_s };
}

/**
 * Delivers alerts to the log, the event stream and the notifier plugins (the webhook and e-mail
 * built-ins among them), each at most once per cooldown across all processes (a Redis key per
 * alert and node). A failing notifier is logged and counted by the plugin host, never fatal.
 */
export class AlertSender {
  private readonly notifiers: PluginHost;

  constructor(private readonly redis: Redis, private readonly prefix: string, config: AlertsConfig, notifiers?: PluginHost) {
    this.notifiers = notifiers ?? builtinNotifiers(config);
  }

  async send(alerts: Alert[]): Promise<Alert[]> {
    const sent: Alert[] = [];
    for (const alert of alerts) {
      const key = `${this.prefix}:alerts:${alert.kind}:${alert.node}`;
      if (!(await this.redis.set(key, Date.now(), 'EX', alert.cooldownS, 'NX'))) continue;
      log.error('alert', { kind: alert.kind, node: alert.node, message: alert.message });
      sent.push(alert);
      const message = { kind: alert.kind, node: alert.node, message: alert.message, at: new Date().toISOString() };
      await publishEvent(this.redis, this.prefix, { type: 'alert', ...message });
      await this.notifiers.notify(message);
    }
    return sent;
  }
}
