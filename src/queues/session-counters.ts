import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { BatchWriter } from '../db/batch-writer';
import { ScriptedRedis, withScripts } from './lua-scripts';

/**
 * Live counters of running sessions in Redis, for progress bars and status while a crawl runs,
 * plus a hint of how many claimed URLs are unfinished, so the job that finishes the last one
 * asks PostgreSQL whether the session is complete (instead of every job asking). Exact totals
 * are counted from the rows when the session finishes; if Redis loses these, only the live view
 * restarts from zero.
 */

export const STAT_FIELDS = [
  'pages_crawled',
  'pages_failed',
  'images_found',
  'images_stored',
  'images_failed',
  'images_duplicate',
  /** Kept by a 304 to a re-crawl's conditional request: stored without a download. */
  'images_revalidated',
  'bytes_downloaded',
  'retries',
  'errors',
] as const;
export type StatField = (typeof STAT_FIELDS)[number];
export type SessionStats = Record<StatField, number>;
export type StatsDelta = Partial<SessionStats>;

/** How long a finished session's counters stay (its totals live in PostgreSQL). */
const FINISHED_TTL_S = 3600;

interface Finished {
  sessionId: string;
  delta: StatsDelta;
}

export class SessionCounters {
  /** Finished URLs are counted in groups: one Redis round trip for all the jobs that ended meanwhile. */
  private readonly finishedWriter: BatchWriter<Finished, number>;
  private readonly scripts: ScriptedRedis;

  /** `onStats`: sees every delta counted (the process's metrics). */
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly onStats: (delta: StatsDelta) => void = () => undefined) {
    this.scripts = withScripts(redis);
    this.finishedWriter = new BatchWriter((rows) => this.countFinished(rows));
  }

  private keys(sessionId: string) {
    // {sessionId} is a hash tag: one session's keys share a Redis Cluster slot.
    const base = `${this.prefix}:session:{${sessionId}}`;
    return { stats: `${base}:stats`, unfinished: `${base}:unfinished` };
  }

  /** `claimed` new URLs were claimed (and will each be finished once). */
  async claimed(sessionId: string, claimed: number, delta: StatsDelta = {}): Promise<void> {
    if (claimed === 0 && Object.keys(delta).length === 0) return;
    this.onStats(delta);
    await this.change(sessionId, claimed, delta);
  }

  async add(sessionId: string, delta: StatsDelta): Promise<void> {
    await this.claimed(sessionId, 0, delta);
  }

  /** Adds `delta` to the statistics and `unfinished` to the hint; returns the new hint. */
  private change(sessionId: string, unfinished: number, delta: StatsDelta): Promise<number> {
    const k = this.keys(sessionId);
    const pairs = Object.entries(delta).filter(([, v]) => v);
    return this.scripts.sessionStats(k.stats, k.unfinished, unfinished, ...pairs.flat());
  }

  /**
   * One claimed URL finished; returns the hint of how many are left (≤ 0: check the database).
   * Of the URLs of one session counted together, one gets the hint, the others a positive
   * number, so the database is asked once.
   */
  finished(sessionId: string, delta: StatsDelta): Promise<number> {
    this.onStats(delta);
    return this.finishedWriter.add({ sessionId, delta });
  }

  private async countFinished(rows: Finished[]): Promise<number[]> {
    const bySession = new Map<string, { count: number; delta: StatsDelta }>();
    for (const { sessionId, delta } of rows) {
      const sum = bySession.get(sessionId) ?? { count: 0, delta: {} };
      sum.count++;
      for (const [f, v] of Object.entries(delta) as [StatField, number][]) if (v) sum.delta[f] = (sum.delta[f] ?? 0) + v;
      bySession.set(sessionId, sum);
    }
    const left = new Map<string, number>();
    await Promise.all([...bySession].map(async ([id, sum]) => left.set(id, await this.change(id, -sum.count, sum.delta))));
    return rows.map(({ sessionId }) => {
      const hint = left.get(sessionId);
      if (hint === undefined) return 1;
      left.delete(sessionId);
      return hint;
    });
  }

  /** Sets the unfinished hint to what PostgreSQL says (after Redis lost it). */
  async resetUnfinished(sessionId: string, pending: number): Promise<void> {
    await this.redis.set(this.keys(sessionId).unfinished, pending);
  }

  /**
   * The generation of this Redis: a random id kept in Redis itself. When Redis loses its data
   * the id changes, and sessions started under the old one know their jobs are gone.
   */
  async epoch(): Promise<string> {
    const key = `${this.prefix}:epoch`;
    const current = await this.redis.get(key);
    if (current) return current;
    await this.redis.set(key, randomUUID(), 'NX');
    return (await this.redis.get(key)) as string;
  }

  async read(sessionId: string): Promise<SessionStats> {
    const raw = await this.redis.hgetall(this.keys(sessionId).stats);
    return Object.fromEntries(STAT_FIELDS.map((f) => [f, Number(raw[f] ?? 0)])) as SessionStats;
  }

  async retire(sessionId: string): Promise<void> {
    const k = this.keys(sessionId);
    await this.redis.pipeline().expire(k.stats, FINISHED_TTL_S).del(k.unfinished).exec();
  }
}
