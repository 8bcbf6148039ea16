import { randomUUID } from 'node:crypto';
import type { CrawlerConfig } from '../config/config-schema';
import { CrawlRequest, SessionOptions, resolveSessionOptions } from '../crawler/crawl-options';
import { SessionRepository, SessionRow, SessionStatus } from '../db/session-repository';
import { getLogger } from '../logger';
import { Frontier, SessionStats } from '../queues/frontier';
import type { CrawlQueues } from '../queues/queues';

const log = getLogger('sessions');

export interface SessionView extends Omit<SessionRow, 'options' | 'start_urls'> {
  start_urls: string[];
  options: SessionOptions;
  /** URLs claimed but not yet finished (live, from Redis). */
  pending: number;
}

/** Starting, stopping, finishing and describing crawl sessions: PostgreSQL row + Redis frontier. */
export class SessionService {
  constructor(
    private readonly sessions: SessionRepository,
    private readonly frontier: Frontier,
    private readonly queues: CrawlQueues,
    private readonly crawlerDefaults: CrawlerConfig,
  ) {}

  async start(request: CrawlRequest): Promise<{ id: string; options: SessionOptions }> {
    const id = randomUUID();
    const options = resolveSessionOptions(request, this.crawlerDefaults);
    await this.sessions.create(id, options);
    await this.frontier.open(id, options);
    const claimed = await this.frontier.claim(
      id,
      'seed',
      options.startUrls.map((url) => ({ kind: 'p' as const, url })),
      options.maxPages,
    );
    await this.queues.enqueue(id, claimed, { depth: 0, referrer: null });
    log.info('crawl session started', { sessionId: id, startUrls: options.startUrls });
    return { id, options };
  }

  /** Queued work of the session is skipped from now on; jobs already running finish. */
  async stop(id: string): Promise<SessionView | undefined> {
    const row = await this.sessions.get(id);
    if (!row) return undefined;
    if (row.status === 'running') {
      await this.frontier.setState(id, 'stopping');
      await this.sessions.setStatus(id, 'stopping');
      log.info('crawl session stopping', { sessionId: id });
      // Nothing may be left to drain (all work done, or none started).
      await this.finishIfDrained(id);
    }
    return this.view(id);
  }

  async view(id: string): Promise<SessionView | undefined> {
    const row = await this.sessions.get(id);
    return row ? this.toView(row) : undefined;
  }

  async latest(): Promise<SessionView | undefined> {
    const row = await this.sessions.latest();
    return row ? this.toView(row) : undefined;
  }

  async list(limit: number, offset: number): Promise<SessionView[]> {
    return Promise.all((await this.sessions.list(limit, offset)).map((r) => this.toView(r)));
  }

  /** Called whenever a job leaves the session with nothing pending. Idempotent. */
  async finishIfDrained(id: string): Promise<void> {
    if ((await this.frontier.unfinished(id)) > 0) return;
    const state = await this.frontier.state(id, 0);
    if (state === 'finished' || state === null) return;
    const status: SessionStatus = state === 'stopping' ? 'stopped' : 'completed';
    const stats = await this.frontier.stats(id);
    if (await this.sessions.finalize(id, status, stats)) {
      log.info('crawl session finished', { sessionId: id, status, ...stats });
    }
    await this.frontier.retire(id);
  }

  private async toView(row: SessionRow): Promise<SessionView> {
    const active = row.status === 'running' || row.status === 'stopping';
    const [live, pending]: [SessionStats | null, number] = active
      ? await Promise.all([this.frontier.stats(row.id), this.frontier.unfinished(row.id)])
      : [null, 0];
    return { ...row, ...(live ?? {}), pending };
  }
}
