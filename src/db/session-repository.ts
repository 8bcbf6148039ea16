import type { Knex } from 'knex';
import type { SessionOptions } from '../crawler/crawl-options';
import type { SessionStats } from '../queues/session-counters';

export type SessionStatus = 'running' | 'stopping' | 'completed' | 'stopped';

export interface SessionRow extends SessionStats {
  id: string;
  status: SessionStatus;
  start_urls: string[];
  options: SessionOptions;
  pages_claimed: number;
  redis_epoch: string | null;
  started_at: Date;
  finished_at: Date | null;
  success_rate: number | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

const ACTIVE: SessionStatus[] = ['running', 'stopping'];

/** The `crawl_sessions` table. */
export class SessionRepository {
  constructor(private readonly knex: Knex) {}

  async create(id: string, options: SessionOptions, redisEpoch: string): Promise<void> {
    await this.knex('crawl_sessions').insert({
      id,
      redis_epoch: redisEpoch,
      status: 'running',
      start_urls: JSON.stringify(options.startUrls),
      options: JSON.stringify(options),
    });
  }

  async get(id: string): Promise<SessionRow | undefined> {
    return this.knex<SessionRow>('crawl_sessions').where({ id }).first();
  }

  async active(): Promise<Pick<SessionRow, 'id' | 'status' | 'redis_epoch'>[]> {
    return this.knex('crawl_sessions').select('id', 'status', 'redis_epoch').whereIn('status', ACTIVE);
  }

  /** Sessions running now, or whose row changed (started, stopped, finished) at or after `since`. */
  async activeOrChangedSince(since: Date): Promise<string[]> {
    const rows = await this.knex('crawl_sessions').select('id').whereIn('status', ACTIVE).orWhere('updated_at', '>=', since);
    return rows.map((r: { id: string }) => r.id);
  }

  async setRedisEpoch(id: string, epoch: string): Promise<void> {
    await this.knex('crawl_sessions').where({ id }).update({ redis_epoch: epoch });
  }

  async latest(): Promise<SessionRow | undefined> {
    return this.knex<SessionRow>('crawl_sessions').orderBy('started_at', 'desc').first();
  }

  async list(limit: number, offset: number): Promise<SessionRow[]> {
    return this.knex<SessionRow>('crawl_sessions').orderBy('started_at', 'desc').limit(limit).offset(offset);
  }

  async setStatus(id: string, status: SessionStatus): Promise<void> {
    await this.knex('crawl_sessions').where({ id }).whereIn('status', ACTIVE).update({ status, updated_at: this.knex.fn.now() });
  }

  /** Writes the final status and totals once; a second call (a re-run job) changes nothing. */
  async finalize(id: string, status: SessionStatus, stats: SessionStats): Promise<boolean> {
    const attempted = stats.images_stored + stats.images_failed;
    const updated = await this.knex('crawl_sessions')
      .where({ id })
      .whereIn('status', ACTIVE)
      .update({
        ...stats,
        status,
        success_rate: attempted === 0 ? null : stats.images_stored / attempted,
        finished_at: this.knex.fn.now(),
        updated_at: this.knex.fn.now(),
      });
    return updated > 0;
  }
}
