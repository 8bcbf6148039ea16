import { RateLimitedError } from '../errors';

/**
 * Retry delay: exponential from `baseMs` with ±20 % jitter (so retries of a burst do not
 * arrive together), and never sooner than a server's Retry-After.
 */
export function retryDelayMs(attemptsMade: number, baseMs: number, err?: Error, random = Math.random): number {
  const exponential = baseMs * 2 ** Math.max(0, attemptsMade - 1);
  const jittered = Math.round(exponential * (0.8 + 0.4 * random()));
  const retryAfter = err instanceof RateLimitedError ? err.retryAfterMs : 0;
  return Math.max(jittered, retryAfter);
}
