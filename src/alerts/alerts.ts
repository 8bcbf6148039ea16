import { publishEvent } from '../events/event-bus';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Redis } from 'ioredis';
import type { AlertsConfig } from '../config/config-schema';
import { getLogger } from '../logger';
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
 * Delivers alerts to the log, the webhook and e-mail, each at most once per cooldown across all
 * processes (a Redis key per alert and node). A failing webhook is logged, never fatal.
 */
export class AlertSender {
  private transport: Transporter | null = null;

  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly config: AlertsConfig) {}

  /** One message per alert to alerts.email.to; a failing SMTP server is logged, never fatal. */
  private async mail(alert: Alert): Promise<void> {
    const { smtp_url: url, from, to } = this.config.email;
    if (!url || to.length === 0) return;
    this.transport ??= nodemailer.createTransport(url, { connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 10_000 });
    await this.transport
      .sendMail({ from, to, subject: `[image-crawler] ${alert.kind}: ${alert.node}`, text: `${alert.message}\n\nat ${new Date().toISOString()}\n` })
      .catch((err: Error) => log.warn('alert e-mail not sent', { error: err.message }));
  }

  async send(alerts: Alert[]): Promise<Alert[]> {
    const sent: Alert[] = [];
    for (const alert of alerts) {
      const key = `${this.prefix}:alerts:${alert.kind}:${alert.node}`;
      if (!(await this.redis.set(key, Date.now(), 'EX', alert.cooldownS, 'NX'))) continue;
      log.error('alert', { kind: alert.kind, node: alert.node, message: alert.message });
      sent.push(alert);
      await publishEvent(this.redis, this.prefix, { type: 'alert', kind: alert.kind, node: alert.node, message: alert.message, at: new Date().toISOString() });
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
      await this.mail(alert);
    }
    return sent;
  }
}
