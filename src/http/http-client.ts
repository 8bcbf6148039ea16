import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { LookupFunction } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import {
  BlockedUrlError,
  CrawlerError,
  PermanentFetchError,
  RateLimitedError,
  TransientFetchError,
} from '../errors';
import { NetPolicy } from '../crawler/net-policy';
import { resolveUrl } from '../crawler/url-normalizer';

/**
 * The only way the crawler talks HTTP. Keep-alive pools; every connection's address is checked
 * against the net policy after DNS resolution, and every redirect hop is followed here so it is
 * checked, normalised and bounded too. Bodies are streamed (and decompressed) with a byte limit
 * and an overall deadline, so a huge, bomb-like or trickling response cannot hold a worker.
 *
 * Plain node:http, not axios: this is the hottest path of a crawl (one request per image), and
 * axios' config merging and header objects cost more CPU per request than the request itself
 * (measured with `npm run bench`). Peer file transfers, which are few, keep axios.
 */

export interface HttpClientOptions {
  userAgent: string;
  /** Overall deadline for one request, body included. */
  requestTimeoutMs: number;
  /** Socket idle limit: connect and time to headers. */
  connectTimeoutMs: number;
  maxRedirects: number;
  netPolicy: NetPolicy;
  /** Sockets per origin in the keep-alive pool. Default 64. */
  maxSocketsPerHost?: number;
}

export interface FetchRequest {
  accept: string;
  maxBytes: number;
  /** Follow redirects here (default), or return the 3xx with its `location` for the caller to schedule. */
  followRedirects?: boolean;
  /** Asked before each redirect hop is requested; throws to refuse it (robots.txt of the hop's host). */
  checkHop?: (url: string) => Promise<void>;
}

export interface FetchResult {
  /** URL after redirects (normalised). */
  finalUrl: string;
  status: number;
  contentType: string;
  body: Buffer;
  /** Each URL redirected through, in order, not counting the final one. */
  redirects: string[];
  /** With `followRedirects: false`, the resolved target of a 3xx answer. */
  location?: string;
}

/** What a browser sends for <img> requests; CDNs pick the format (or answer at all) by it. */
export const IMAGE_ACCEPT = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';
export const PAGE_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

const MAX_RETRY_AFTER_MS = 10 * 60_000;

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body, decompressed. */
  body: Readable;
  /** Drops the response and its connection. */
  discard(): void;
}

export class HttpClient {
  private readonly agents: { http: http.Agent; https: https.Agent };

  constructor(private readonly opts: HttpClientOptions) {
    const lookup = guardedLookup(opts.netPolicy);
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSocketsPerHost ?? 64, lookup };
    this.agents = { http: new http.Agent(agentOpts), https: new https.Agent(agentOpts) };
  }

  async fetch(url: string, req: FetchRequest): Promise<FetchResult> {
    const deadline = new Deadline(this.opts.requestTimeoutMs);
    try {
      return await this.fetchWithin(url, req, deadline);
    } finally {
      deadline.clear();
    }
  }

  private async fetchWithin(url: string, req: FetchRequest, deadline: Deadline): Promise<FetchResult> {
    const redirects: string[] = [];
    let current = url;
    for (;;) {
      const parsed = new URL(current); // once: node:http takes the parsed URL as it is
      this.checkLiteralAddress(parsed);
      const res = await this.request(parsed, req, deadline);
      const status = res.status;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.discard();
        const next = resolveUrl(String(res.headers.location), current);
        if (!next) throw new PermanentFetchError(`redirect to an unusable location "${res.headers.location}"`, status);
        if (req.followRedirects === false) {
          return { finalUrl: current, status, contentType: '', body: Buffer.alloc(0), redirects, location: next };
        }
        redirects.push(current);
        if (next === current || redirects.includes(next)) throw new PermanentFetchError(`redirect loop at ${next}`, status);
        if (redirects.length > this.opts.maxRedirects) {
          throw new PermanentFetchError(`more than ${this.opts.maxRedirects} redirects`, status);
        }
        await req.checkHop?.(next);
        current = next;
        continue;
      }
      if (status < 200 || status >= 300) {
        res.discard();
        throw statusError(current, status, res.headers['retry-after']);
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > req.maxBytes) {
        res.discard();
        throw new PermanentFetchError(`body of ${declared} bytes exceeds the ${req.maxBytes}-byte limit`, status);
      }
      const body = await readLimited(res.body, req.maxBytes, deadline, status);
      return { finalUrl: current, status, contentType: String(res.headers['content-type'] ?? ''), body, redirects };
    }
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** One GET; resolves at the response headers. A silent socket fails after the connect timeout. */
  private request(url: URL, req: FetchRequest, deadline: Deadline): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const request = (secure ? https : http).get(
        url,
        {
          agent: secure ? this.agents.https : this.agents.http,
          headers: { 'User-Agent': this.opts.userAgent, Accept: req.accept, 'Accept-Encoding': 'gzip, deflate, br' },
        },
        (res) => {
          try {
            resolve(decoded(res));
          } catch (err) {
            res.destroy();
            reject(err);
          }
        },
      );
      request.setTimeout(this.opts.connectTimeoutMs, () => request.destroy(Object.assign(new Error('socket timeout'), { code: 'ETIMEDOUT' })));
      request.once('error', (err) => reject(networkError(url.href, err, deadline, this.opts.connectTimeoutMs)));
      deadline.guard(() => request.destroy(new Error('deadline passed')));
    });
  }

  /** Node skips the lookup hook for IP literals, so those are checked here. */
  private checkLiteralAddress(url: URL): void {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host)) {
      const verdict = this.opts.netPolicy.check(host);
      if (!verdict.allowed) throw new BlockedUrlError(NetPolicy.explain(host, host, verdict.range));
    }
  }
}

/**
 * One request's overall deadline: a timer, and the one thing to stop when it passes — the
 * request while it waits for headers, then the body read. Not an AbortController: with its
 * signal handed to node:http, the listeners it adds per request cost more CPU than the rest of
 * the request (measured against a local nginx: ~40 µs of ~250).
 */
class Deadline {
  expired = false;
  private stop: (() => void) | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(ms: number) {
    this.timer = setTimeout(() => {
      this.expired = true;
      const stop = this.stop;
      this.stop = null;
      stop?.();
    }, ms);
  }

  /** `stop` is what the deadline stops from now on (at once when it has passed). */
  guard(stop: () => void): void {
    if (this.expired) stop();
    else this.stop = stop;
  }

  release(): void {
    this.stop = null;
  }

  clear(): void {
    clearTimeout(this.timer);
    this.stop = null;
  }
}

/** A dns.lookup that only ever hands allowed addresses to the socket. */
function guardedLookup(policy: NetPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as dns.LookupAddress[];
      const allowed = list.filter((a) => policy.check(a.address).allowed);
      if (allowed.length === 0) {
        const first = list[0];
        const range = first ? policy.check(first.address).range : 'none';
        return callback(new BlockedUrlError(NetPolicy.explain(hostname, first?.address ?? '?', range)), '', 0);
      }
      if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, allowed);
      callback(null, allowed[0].address, allowed[0].family);
    });
  };
}

/** The response with its body decompressed as its Content-Encoding says. */
function decoded(res: http.IncomingMessage): RawResponse {
  const status = res.statusCode ?? 0;
  const discard = () => res.destroy();
  // Only a body that will be read is decoded: a 404 in an odd encoding is still a 404.
  if (status < 200 || status >= 300 || status === 204) return { status, headers: res.headers, body: res, discard };
  const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
  let inflate: Transform | undefined;
  if (encoding === 'gzip' || encoding === 'x-gzip') inflate = zlib.createGunzip(LENIENT_END);
  else if (encoding === 'deflate') inflate = inflateEither();
  else if (encoding === 'br') inflate = zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
  else if (encoding !== '' && encoding !== 'identity') throw new PermanentFetchError(`unsupported Content-Encoding "${encoding}"`, status);
  if (!inflate) return { status, headers: res.headers, body: res, discard };
  const body = inflate;
  res.once('error', (err) => body.destroy(err));
  body.once('close', () => res.destroy());
  res.pipe(body);
  return { status, headers: res.headers, body, discard: () => body.destroy() };
}

/** Like browsers, accept a body that ends without its final flush. */
const LENIENT_END = { finishFlush: zlib.constants.Z_SYNC_FLUSH };

/**
 * `deflate` is meant to be zlib-wrapped (RFC 9110), but some servers send raw deflate, and
 * browsers take both: the first two bytes tell which (a zlib header is a multiple of 31).
 */
function inflateEither(): Transform {
  let inner: zlib.Inflate | zlib.InflateRaw | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (!inner) {
        const wrapped = chunk.length >= 2 && (chunk[0] & 0x0f) === 8 && ((chunk[0] << 8) | chunk[1]) % 31 === 0;
        inner = wrapped ? zlib.createInflate(LENIENT_END) : zlib.createInflateRaw(LENIENT_END);
        inner.on('data', (data: Buffer) => this.push(data));
        inner.on('error', (err) => this.destroy(err));
      }
      inner.write(chunk, () => done());
    },
    flush(done) {
      if (!inner) return done();
      inner.once('end', () => done());
      inner.end();
    },
    destroy(err, done) {
      inner?.destroy();
      done(err);
    },
  });
}

function statusError(url: string, status: number, retryAfter: unknown): CrawlerError {
  if (status === 429 || status === 503) return new RateLimitedError(url, status, parseRetryAfter(retryAfter));
  if (status >= 500 || status === 408) return new TransientFetchError(`HTTP ${status}`, status);
  return new PermanentFetchError(`HTTP ${status}`, status);
}

/** Retry-After as seconds or an HTTP date; 0 when absent or unreadable. Capped at 10 minutes. */
export function parseRetryAfter(value: unknown, now = Date.now()): number {
  if (typeof value !== 'string' || value.trim() === '') return 0;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : 0;
}

function networkError(url: string, err: unknown, deadline: Deadline, connectTimeoutMs: number): CrawlerError {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (e instanceof CrawlerError) return e;
  }
  if (deadline.expired) return new TransientFetchError(`request to ${url} exceeded its deadline`);
  const code = (err as { code?: string }).code;
  const message = (err as Error).message ?? String(err);
  if (code === 'ENOTFOUND') return new PermanentFetchError(`host not found: ${new URL(url).hostname}`);
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') return new TransientFetchError(`no response within ${connectTimeoutMs} ms (connect timeout)`);
  return new TransientFetchError(`${code ? `${code}: ` : ''}${message}`, 0, err);
}

function readLimited(stream: Readable, maxBytes: number, deadline: Deadline, status: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: CrawlerError) => {
      deadline.release();
      stream.destroy();
      reject(err);
    };
    const onAbort = () => fail(new TransientFetchError('body not received before the deadline', status));
    deadline.guard(onAbort);
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) fail(new PermanentFetchError(`body exceeds the ${maxBytes}-byte limit`, status));
      else chunks.push(chunk);
    });
    stream.once('error', (err) =>
      deadline.expired ? onAbort() : fail(new TransientFetchError(`body read failed: ${err.message}`, status, err)),
    );
    stream.once('end', () => {
      deadline.release();
      resolve(Buffer.concat(chunks, size));
    });
  });
}
