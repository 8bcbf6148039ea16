import type { Redis } from 'ioredis';
import type { SessionOptions } from '../crawler/crawl-options';
import { urlKey } from '../crawler/url-normalizer';
import { ScriptedRedis, withScripts } from './lua-scripts';
import type { UrlKind } from './job-types';

/**
 * A crawl session's shared state in Redis: which URLs are claimed (so each is fetched once
 * across all workers), which are still unfinished (so the session knows when it is complete),
 * its live statistics, run state and options. Every mutation is one Lua script, atomic.
 */

export type SessionRunState = 'running' | 'stopping' | 'finished';

/** Counters kept per session; the same names are columns of `crawl_sessions`. */
export const STAT_FIELDS = [
  'pages_crawled',
  'pages_failed',
  'images_found',
  'images_stored',
  'images_failed',
  'images_duplicate',
  'bytes_downloaded',
  'retries',
  'errors',
] as const;
export type StatField = (typeof STAT_FIELDS)[number];
export type SessionStats = Record<StatField, number>;
export type StatsDelta = Partial<SessionStats>;

export interface ClaimCandidate {
  kind: UrlKind;
  url: string;
}

export interface ClaimedUrl extends ClaimCandidate {
  key: string;
}

/** How long a finished session's frontier stays in Redis (its totals live in PostgreSQL). */
const FINISHED_TTL_S = 24 * 3600;

export class Frontier {
  private readonly redis: ScriptedRedis;
  private readonly optionsCache = new Map<string, SessionOptions>();
  private readonly stateCache = new Map<string, { state: SessionRunState | null; at: number }>();

  constructor(redis: Redis, private readonly prefix: string) {
    this.redis = withScripts(redis);
  }

  private keys(sessionId: string) {
    // {sessionId} is a hash tag: one session's keys share a Redis Cluster slot.
    const base = `${this.prefix}:frontier:{${sessionId}}`;
    return {
      seen: `${base}:seen`,
      done: `${base}:done`,
      pending: `${base}:pending`,
      state: `${base}:state`,
      pages: `${base}:pages`,
      stats: `${base}:stats`,
      options: `${base}:options`,
    };
  }

  async open(sessionId: string, options: SessionOptions): Promise<void> {
    const k = this.keys(sessionId);
    await this.redis.multi().set(k.options, JSON.stringify(options)).set(k.state, 'running').exec();
  }

  async options(sessionId: string): Promise<SessionOptions | null> {
    const cached = this.optionsCache.get(sessionId);
    if (cached) return cached;
    const raw = await this.redis.get(this.keys(sessionId).options);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as SessionOptions;
    if (this.optionsCache.size > 100) this.optionsCache.clear(); // old sessions; reloaded on demand
    this.optionsCache.set(sessionId, parsed);
    return parsed;
  }

  /** Run state, cached for `maxAgeMs` so hot paths do not ask Redis per job. */
  async state(sessionId: string, maxAgeMs = 250): Promise<SessionRunState | null> {
    const hit = this.stateCache.get(sessionId);
    if (hit && Date.now() - hit.at < maxAgeMs) return hit.state;
    const state = (await this.redis.get(this.keys(sessionId).state)) as SessionRunState | null;
    if (this.stateCache.size > 100) this.stateCache.clear();
    this.stateCache.set(sessionId, { state, at: Date.now() });
    return state;
  }

  async setState(sessionId: string, state: SessionRunState): Promise<void> {
    await this.redis.set(this.keys(sessionId).state, state);
    this.stateCache.delete(sessionId);
  }

  /**
   * Claims candidates for `owner` (a job id, or "seed"); returns those the caller must enqueue.
   * `pageBudget` > 0 caps how many pages (kind "p") the session may ever claim.
   */
  async claim(sessionId: string, owner: string, candidates: ClaimCandidate[], pageBudget = 0): Promise<ClaimedUrl[]> {
    if (candidates.length === 0) return [];
    const k = this.keys(sessionId);
    const withKeys = candidates.map((c) => ({ ...c, key: urlKey(c.url) }));
    const positions = await this.redis.claimUrls(
      k.seen,
      k.done,
      k.pending,
      k.state,
      k.pages,
      owner,
      pageBudget,
      ...withKeys.map((c) => c.kind + c.key),
    );
    return positions.map((p) => withKeys[p - 1]);
  }

  /** Finishes a claimed URL once, adding its stats; returns how many are still unfinished. */
  async finish(sessionId: string, kind: UrlKind, key: string, delta: StatsDelta = {}): Promise<number> {
    const k = this.keys(sessionId);
    const pairs = Object.entries(delta).flatMap(([f, v]) => (v ? [f, v] : []));
    return this.redis.finishUrl(k.done, k.pending, k.stats, kind + key, ...pairs);
  }

  async unfinished(sessionId: string): Promise<number> {
    return this.redis.scard(this.keys(sessionId).pending);
  }

  async addStats(sessionId: string, delta: StatsDelta): Promise<void> {
    const k = this.keys(sessionId);
    const pipe = this.redis.pipeline();
    for (const [f, v] of Object.entries(delta)) if (v) pipe.hincrby(k.stats, f, v);
    await pipe.exec();
  }

  async stats(sessionId: string): Promise<SessionStats> {
    const raw = await this.redis.hgetall(this.keys(sessionId).stats);
    return Object.fromEntries(STAT_FIELDS.map((f) => [f, Number(raw[f] ?? 0)])) as SessionStats;
  }

  /** After the session is finalised in PostgreSQL: let Redis forget it after a grace period. */
  async retire(sessionId: string): Promise<void> {
    const k = this.keys(sessionId);
    const pipe = this.redis.pipeline().set(k.state, 'finished');
    for (const key of Object.values(k)) pipe.expire(key, FINISHED_TTL_S);
    await pipe.exec();
    this.stateCache.delete(sessionId);
  }
}
