import type { Redis } from 'ioredis';
import type { NetPolicyOptions } from '../crawler/net-policy';
import { RobotsRules } from '../crawler/robots-rules';
import { CrawlerError, PermanentFetchError, TransientFetchError } from '../errors';
import { getLogger } from '../logger';
import { HttpClient } from './http-client';
import { sleep } from './host-throttle';

const log = getLogger('robots');

const ROBOTS_MAX_BYTES = 512 * 1024;
const LOCK_MS = 20_000;
const POLL_MS = 50;

/**
 * robots.txt per origin, fetched once however many jobs and processes ask at the same time:
 * one in-process promise per origin, and across processes a Redis lock so one process fetches
 * while the others wait for the shared copy. 4xx means "no rules"; a 5xx or network failure
 * is a transient error (the job retries later) rather than a guess either way.
 */
export class RobotsCache {
  private readonly local = new Map<string, { rules: Promise<RobotsRules>; expires: number }>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly http: HttpClient,
    private readonly userAgent: string,
    private readonly ttlS: number,
  ) {}

  /** `network`: the asking session's network policy (robots.txt is fetched under it). */
  rulesFor(origin: string, network?: NetPolicyOptions): Promise<RobotsRules> {
    const hit = this.local.get(origin);
    if (hit && hit.expires > Date.now()) return hit.rules;
    const rules = this.load(origin, network);
    this.local.set(origin, { rules, expires: Date.now() + this.ttlS * 1000 });
    rules.catch(() => this.local.delete(origin));
    return rules;
  }

  private async load(origin: string, network: NetPolicyOptions | undefined): Promise<RobotsRules> {
    const key = `${this.prefix}:robots:${origin}`;
    const lockKey = `${key}:lock`;
    const deadline = Date.now() + LOCK_MS;
    for (;;) {
      const cached = await this.redis.get(key);
      if (cached !== null) return this.parse(origin, cached);
      const gotLock = await this.redis.set(lockKey, '1', 'PX', LOCK_MS, 'NX');
      if (gotLock || Date.now() > deadline) break;
      await sleep(POLL_MS);
    }
    try {
      const text = await this.fetch(origin, network);
      await this.redis.set(key, JSON.stringify({ text }), 'EX', this.ttlS);
      return new RobotsRules(origin, text, this.userAgent);
    } finally {
      await this.redis.del(lockKey);
    }
  }

  private parse(origin: string, cached: string): RobotsRules {
    const { text } = JSON.parse(cached) as { text: string | null };
    return new RobotsRules(origin, text, this.userAgent);
  }

  /** The robots.txt text, or null when the site has none (4xx). */
  private async fetch(origin: string, network: NetPolicyOptions | undefined): Promise<string | null> {
    try {
      const res = await this.http.fetch(`${origin}/robots.txt`, { kind: 'robots', accept: 'text/plain,*/*;q=0.5', maxBytes: ROBOTS_MAX_BYTES, network });
      return res.body.toString('utf8');
    } catch (err) {
      if (err instanceof PermanentFetchError && err.httpStatus >= 400 && err.httpStatus < 500) return null;
      if (err instanceof CrawlerError && !err.retryable) throw err;
      log.warn('robots.txt unavailable', { origin, error: (err as Error).message });
      throw new TransientFetchError(`robots.txt of ${origin} unavailable: ${(err as Error).message}`, (err as CrawlerError).httpStatus ?? 0);
    }
  }
}
