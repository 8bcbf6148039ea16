import { expect } from 'chai';
import { RateLimitedError, TransientFetchError } from '../../src/errors';
import { parseRetryAfter } from '../../src/http/http-client';
import { retryDelayMs } from '../../src/workers/backoff';

describe('retry timing', () => {
  it('backs off exponentially with bounded jitter', () => {
    const mid = () => 0.5;
    expect(retryDelayMs(1, 1000, new TransientFetchError('x'), mid)).to.equal(1000);
    expect(retryDelayMs(2, 1000, undefined, mid)).to.equal(2000);
    expect(retryDelayMs(4, 1000, undefined, mid)).to.equal(8000);
    expect(retryDelayMs(1, 1000, undefined, () => 0)).to.equal(800);
    expect(retryDelayMs(1, 1000, undefined, () => 0.9999)).to.be.within(1199, 1200);
  });

  it('never retries sooner than Retry-After', () => {
    const err = new RateLimitedError('http://h.test/x', 429, 30_000);
    expect(retryDelayMs(1, 1000, err, () => 0.5)).to.equal(30_000);
  });

  it('reads Retry-After as seconds or as an HTTP date, capped', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).to.equal(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).to.equal(30_000);
    expect(parseRetryAfter('99999', now)).to.equal(600_000);
    expect(parseRetryAfter('soon', now)).to.equal(0);
    expect(parseRetryAfter(undefined, now)).to.equal(0);
  });
});
