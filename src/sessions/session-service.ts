import { InvalidRequestError } from '../errors';
import { randomUUID } from 'node:crypto';
import type { CrawlerConfig } from '../config/config-schema';
import { CrawlRequest, SessionOptions, resolveSessionOptions } from '../crawler/crawl-options';
import type { Knex } from 'knex';
import { DocumentBudget, FrontierRepository } from '../db/frontier-repository';
import { SessionRepository, SessionRow, SessionStatus } from '../db/session-repository';
import { getLogger } from '../logger';
import type { SessionCounters } from '../queues/session-counters';
import type { CrawlQueues } from '../queues/queues';

const log = getLogger('sessions');

export interface SessionView extends SessionRow {
  /** URLs claimed but not yet finished. */
  pending: number;
}

/** What a job needs to know about its session, cached briefly per process. */
export interface SessionState {
  status: SessionStatus;
  options: SessionOptions;
}

const STATE_TTL_MS = 250;

/** Starting, stopping, finishing and describing crawl sessions. */
export class SessionService {
  private readonly stateCache = new Map<string, { state: Promise<SessionState | null>; at: number }>();

  constructor(
    private readonly knex: Knex,
    private readonly sessions: SessionRepository,
    private readonly frontier: FrontierRepository,
    private readonly counters: SessionCounters,
    private readonly queues: CrawlQueues,
    private readonly crawlerDefaults: CrawlerConfig,
  ) {}

  async start(request: CrawlRequest): Promise<{ id: string; options: SessionOptions }> {
    const id = randomUUID();
    const options = resolveSessionOptions(request, this.crawlerDefaults);
    if (options.since && !(await this.sessions.get(options.since))) throw new InvalidRequestError(`since: there is no crawl session ${options.since}`);
    const epoch = await this.counters.epoch();
    // One transaction: nobody (the sweeper above all) can see a running session without its
    // start pages and complete it empty.
    const claimed = await this.knex.transaction(async (trx) => {
      await new SessionRepository(trx).create(id, options, epoch);
      const starts = options.startUrls.map((url) => ({ kind: 'page' as const, url, depth: 0 }));
      return new FrontierRepository(trx).claimDocuments(id, null, starts, documentBudget(options));
    });
    await this.counters.claimed(id, claimed.length);
    await this.queues.enqueueDocuments(id, claimed.map((c) => ({ ...c, referrer: null })));
    log.info('crawl session started', { sessionId: id, startUrls: options.startUrls });
    return { id, options };
  }

  /** Queued work of the session is skipped from now on; jobs already running finish. */
  async stop(id: string): Promise<SessionView | undefined> {
    const row = await this.sessions.get(id);
    if (!row) return undefined;
    if (row.status === 'running') {
      await this.sessions.setStatus(id, 'stopping');
      this.stateCache.delete(id);
      log.info('crawl session stopping', { sessionId: id });
      await this.finishIfDrained(id); // nothing may be left to drain
    }
    return this.view(id);
  }

  /**
   * Status and options of a session for a job, cached for a quarter second. The read itself is
   * cached too, so the jobs that find the entry expired at the same moment share one query.
   */
  state(id: string): Promise<SessionState | null> {
    const hit = this.stateCache.get(id);
    if (hit && Date.now() - hit.at < STATE_TTL_MS) return hit.state;
    const state = this.sessions.get(id).then((row) => (row ? { status: row.status, options: row.options } : null));
    if (this.stateCache.size > 1000) this.stateCache.clear();
    this.stateCache.set(id, { state, at: Date.now() });
    state.catch(() => this.stateCache.delete(id)); // a failed read is not cached
    return state;
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

  /** Completes the session when no claimed URL is left unfinished. Idempotent. */
  async finishIfDrained(id: string): Promise<boolean> {
    if (await this.frontier.hasPending(id)) return false;
    const row = await this.sessions.get(id);
    if (!row || (row.status !== 'running' && row.status !== 'stopping')) return false;
    const status: SessionStatus = row.status === 'stopping' ? 'stopped' : 'completed';
    const totals = await this.frontier.totals(id);
    const { retries } = await this.counters.read(id);
    if (await this.sessions.finalize(id, status, { ...totals, retries, errors: totals.pages_failed + totals.images_failed })) {
      log.info('crawl session finished', { sessionId: id, status, ...totals, retries });
    }
    this.stateCache.delete(id);
    await this.counters.retire(id);
    return true;
  }

  private async toView(row: SessionRow): Promise<SessionView> {
    if (row.status !== 'running' && row.status !== 'stopping') return { ...row, pending: 0 };
    const [live, pending] = await Promise.all([this.counters.read(row.id), this.frontier.pendingCount(row.id)]);
    return { ...row, ...live, pending };
  }
}

/** The page and stylesheet budgets of a session (0: none, for sessions recorded before stylesheets had one). */
export function documentBudget(options: SessionOptions): DocumentBudget {
  return { pages: options.maxPages, stylesheets: options.maxStylesheets ?? 0 };
}
