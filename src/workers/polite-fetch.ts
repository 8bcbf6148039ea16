import type { SessionOptions } from '../crawler/crawl-options';
import { originOf } from '../crawler/url-normalizer';
import { PermanentFetchError, RateLimitedError, RobotsDisallowedError } from '../errors';
import type { FetchRequest, FetchResult } from '../http/http-client';
import type { Runtime } from '../runtime';

/** What a polite fetch uses of the runtime. */
export type FetchDeps = Pick<Runtime, 'robots' | 'throttle' | 'http' | 'config'>;

/**
 * Every crawler request goes through here: robots.txt first (a disallowed URL is never
 * fetched, nor a disallowed redirect target), then the host's politeness slot (the longer of
 * the session delay and robots Crawl-delay), then the request. A 429/503 pushes the host back
 * for every process (a Retry-After beyond crawler.max_retry_after_s fails the URL at once). A
 * longer wait for the host throws HostBusyError (the job is delayed).
 */
export async function politeFetch(
  rt: FetchDeps,
  options: SessionOptions,
  url: string,
  req: FetchRequest,
  /** A request slot reserved on an earlier run of the job (HostBusyError). */
  slotAt?: number,
): Promise<FetchResult> {
  const origin = originOf(url);
  const maxRetryAfterMs = rt.config.crawler.max_retry_after_s * 1000;
  const network = options.network;
  req = { ...req, network };
  let delayMs = options.politenessDelayMs;
  if (options.respectRobots) {
    const rules = await rt.robots.rulesFor(origin, network);
    if (!rules.isAllowed(url)) throw new RobotsDisallowedError(url);
    delayMs = Math.max(delayMs, rules.crawlDelayMs());
    // A redirect is a new request: its target, on this host or another, must be allowed too.
    req = {
      ...req,
      checkHop: async (hop) => {
        if (!(await rt.robots.rulesFor(originOf(hop), network)).isAllowed(hop)) throw new RobotsDisallowedError(hop);
      },
    };
  }
  try {
    return await rt.throttle.run(origin, delayMs, () => rt.http.fetch(url, req), slotAt);
  } catch (err) {
    if (!(err instanceof RateLimitedError)) throw err;
    // The host is left alone for its Retry-After, up to the longest wait we honour at all.
    await rt.throttle.pushBack(origin, Math.min(err.retryAfterMs || 1000, maxRetryAfterMs));
    if (err.retryAfterMs > maxRetryAfterMs) {
      throw new PermanentFetchError(`${err.message}: longer than the ${maxRetryAfterMs / 1000} s waited at most (crawler.max_retry_after_s)`, err.httpStatus);
    }
    throw err;
  }
}
