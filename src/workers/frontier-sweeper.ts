import { acquireLock } from '../queues/redis-lock';
import { getLogger } from '../logger';
import type { Runtime } from '../runtime';

const log = getLogger('sweeper');

/** What the sweeper reads and writes: the frontier, sessions and their counters, the queues. */
export type SweeperDeps = Pick<Runtime, 'config' | 'redis' | 'counters' | 'sessionRepo' | 'sessions' | 'frontier' | 'queues'>;
const BATCH = 1000;

/**
 * The safety net that makes Redis disposable. Every `sweep_interval_ms`, one process (a Redis
 * lock decides which) looks at every running session in PostgreSQL:
 * - nothing pending → the session is completed (covers a lost "last job" signal);
 * - pending URLs idle for `orphan_after_ms` → enqueued again (a worker died between claiming
 *   URLs and enqueueing them, or a job gave up while the database was away and could not record
 *   it; a URL whose job is still queued keeps it and is not counted, a failed job is replaced);
 * - Redis came back empty (restart without persistence, failover to an empty replica): its
 *   epoch differs from the one the session recorded → every pending URL is enqueued again.
 */
export class FrontierSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly rt: SweeperDeps) {}

  start(): void {
    const every = this.rt.config.worker.sweep_interval_ms;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.sweep()
        .then(() => undefined)
        .catch((err) => {
          log.warn('sweep failed', { error: (err as Error).message });
        })
        .finally(() => (this.running = null));
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One sweep: how many URLs it enqueued again, by session; null when another process holds the lock. */
  async sweep(): Promise<Map<string, number> | null> {
    const { redis, config } = this.rt;
    const prefix = config.redis.prefix;
    const lock = await acquireLock(redis, `${prefix}:sweeper:lock`, config.worker.sweep_interval_ms * 2);
    if (!lock) return null;
    const requeuedBySession = new Map<string, number>();
    try {
      const epoch = await this.rt.counters.epoch();
      for (const session of await this.rt.sessionRepo.active()) {
        if (await this.rt.sessions.finishIfDrained(session.id)) continue;
        const jobsLost = session.redis_epoch !== epoch;
        const requeued = await this.requeue(session.id, jobsLost ? 0 : config.worker.orphan_after_ms, jobsLost);
        if (jobsLost) {
          await this.rt.counters.resetUnfinished(session.id, await this.rt.frontier.pendingCount(session.id));
          await this.rt.sessionRepo.setRedisEpoch(session.id, epoch);
        }
        if (requeued > 0) {
          requeuedBySession.set(session.id, requeued);
          log.warn('pending URLs enqueued again', { sessionId: session.id, count: requeued, reason: jobsLost ? 'redis lost its data' : 'idle pending URLs' });
        }
      }
    } finally {
      await lock.release();
    }
    return requeuedBySession;
  }

  private async requeue(sessionId: string, idleMs: number, all: boolean): Promise<number> {
    let total = 0;
    for (;;) {
      const { documents, images } = await this.rt.frontier.takeIdle(sessionId, idleMs, BATCH);
      total += await this.rt.queues.requeue(sessionId, documents, images);
      if (!all || (documents.length < BATCH && images.length < BATCH)) return total;
    }
  }
}
