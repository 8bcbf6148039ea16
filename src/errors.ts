/**
 * The few semantic errors that decide what happens to a failed job: retry later, give up and
 * record, or wait for a host. Every processor branches on these, in one place
 * (`classifyFailure`), instead of on message strings.
 */

/** Base class: `retryable` says whether another attempt could succeed. */
export class CrawlerError extends Error {
  readonly retryable: boolean;
  /** HTTP status of the response that caused the error, 0 when no response came. */
  readonly httpStatus: number;

  constructor(message: string, opts: { retryable: boolean; httpStatus?: number; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.retryable = opts.retryable;
    this.httpStatus = opts.httpStatus ?? 0;
  }
}

/** The URL is refused by policy (private address, bad scheme, too long): never retried. */
export class BlockedUrlError extends CrawlerError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** robots.txt forbids the URL: never fetched, never retried. */
export class RobotsDisallowedError extends CrawlerError {
  constructor(url: string) {
    super(`disallowed by robots.txt: ${url}`, { retryable: false });
  }
}

/** A network failure or a 5xx: another attempt may succeed. */
export class TransientFetchError extends CrawlerError {
  constructor(message: string, httpStatus = 0, cause?: unknown) {
    super(message, { retryable: true, httpStatus, cause });
  }
}

/** 429 / 503 with (or without) Retry-After: retry no sooner than `retryAfterMs`. */
export class RateLimitedError extends CrawlerError {
  readonly retryAfterMs: number;
  constructor(url: string, httpStatus: number, retryAfterMs: number) {
    super(`rate limited (${httpStatus}) by ${new URL(url).host}, retry after ${retryAfterMs} ms`, {
      retryable: true,
      httpStatus,
    });
    this.retryAfterMs = retryAfterMs;
  }
}

/** A definitive answer that will not change on retry: 4xx, too large, too many redirects. */
export class PermanentFetchError extends CrawlerError {
  constructor(message: string, httpStatus = 0) {
    super(message, { retryable: false, httpStatus });
  }
}

/** The body is not a decodable image, or exceeds the pixel limit (decompression bomb). */
export class InvalidImageError extends CrawlerError {
  constructor(message: string, httpStatus = 0) {
    super(message, { retryable: false, httpStatus });
  }
}

/** Bad configuration: names the offending key. Fatal at start. */
/** A request that refers to something that is not there (answered 400 by the API). */
export class InvalidRequestError extends Error {
  readonly status = 400;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * The content store could not take a file (disk, writer thread). Not a CrawlerError: like a
 * database or Redis failure it postpones the job without using up an attempt.
 */
export class StorageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageError';
  }
}

/**
 * A host cannot take the request yet (Crawl-delay, the politeness gap, a Retry-After push-back,
 * or all its connections busy). Not a failure: the job is moved to delayed for `waitMs`, so the
 * worker slot serves other hosts meanwhile, and no attempt is used. `slotAt` is the request
 * slot reserved for the job (epoch ms), which it uses when it comes back.
 */
export class HostBusyError extends Error {
  constructor(readonly origin: string, readonly waitMs: number, readonly slotAt?: number) {
    super(`${origin} cannot take a request for ${waitMs} ms`);
    this.name = 'HostBusyError';
  }
}

/**
 * Not written: this process has not confirmed the cluster's primary within the write lease
 * (Redis unreachable, or partitioned from it), so another node may have been promoted since.
 * An infrastructure failure: the job is postponed, nothing is acknowledged on a deposed primary.
 */
export class StaleClusterViewError extends Error {
  constructor(node: string, sinceMs: number) {
    super(`not writing to ${node}: the cluster's primary was last confirmed ${sinceMs} ms ago (is Redis reachable?)`);
    this.name = 'StaleClusterViewError';
  }
}

/** Redis or PostgreSQL cannot be reached at start: one clear line, exit 69 (EX_UNAVAILABLE). */
export class ServiceUnavailableError extends Error {
  constructor(service: string, where: string, reason: string) {
    super(`cannot reach ${service} at ${where}: ${reason}`);
    this.name = 'ServiceUnavailableError';
  }
}

/**
 * The database or Redis is away or refusing writes for now (connection refused or reset, no
 * pooled connection in time, a read-only or shutting-down node, this process's write lease run
 * out): worth retrying shortly, not a bug. The API answers these with 503 and Retry-After.
 */
export function isOutage(err: unknown): boolean {
  if (err instanceof StaleClusterViewError) return true;
  const e = err as { code?: unknown; name?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND'].includes(code)) return true;
  // SQLSTATE: 08 connection exception, 57P0x shutdown / cannot connect now, 25006 read-only transaction.
  if (/^(08|57P0)/.test(code) || code === '25006') return true;
  return e?.name === 'KnexTimeoutError' || e?.name === 'MaxRetriesPerRequestError';
}

/**
 * A bug of ours (TypeError and kin), not an outage that passes: the job uses up its attempts
 * and its URL is recorded failed, instead of being postponed as an infrastructure failure.
 */
export function isInternalError(err: unknown): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError;
}
