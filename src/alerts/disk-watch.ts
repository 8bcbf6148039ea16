import type { PluginHost } from '../plugins/plugin-host';
import fsp from 'node:fs/promises';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/config-schema';
import { hostName } from '../config/host-identity';
import { getLogger } from '../logger';
import { Alert, AlertSender, evaluateDiskAlert } from './alerts';

const log = getLogger('alerts');

/**
 * The disk_space alert of this host's image store (SPEC §7): every worker process looks at the
 * disk holding its store every `alerts.disk_space.interval_s`; the alert goes out once per
 * cooldown per host, however many workers share the host (the sender's Redis key).
 */
export class DiskWatch {
  private readonly sender: AlertSender;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly config: AppConfig, redis: Redis, notifiers?: PluginHost) {
    this.sender = new AlertSender(redis, config.redis.prefix, config.alerts, notifiers);
  }

  start(): void {
    if (!this.config.alerts.disk_space.enabled || this.timer) return;
    const tick = () => void this.check().catch((err: Error) => log.warn('disk space not checked', { error: err.message }));
    tick();
    this.timer = setInterval(tick, this.config.alerts.disk_space.interval_s * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at the disk; returns the alerts sent (none below the threshold or within the cooldown). */
  async check(): Promise<Alert[]> {
    const dir = this.config.storage.data_dir;
    const st = await fsp.mkdir(dir, { recursive: true }).then(() => fsp.statfs(dir));
    const used = st.blocks > 0 ? 1 - st.bavail / st.blocks : 0;
    const alert = evaluateDiskAlert(used, hostName(this.config), dir, this.config.alerts);
    return alert ? this.sender.send([alert]) : [];
  }
}
