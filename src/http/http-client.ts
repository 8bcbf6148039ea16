import type { FetchKind } from '../metrics/metrics';
import type { IncomingHttpHeaders } from 'node:http';
import { Transform } from 'node:stream';
import zlib from 'node:zlib';
import { Agent, type Dispatcher } from 'undici';
import {
  CrawlerError,
  PermanentFetchError,
  RateLimitedError,
  TransientFetchError,
} from '../errors';
import { NetPolicy, NetPolicyOptions } from '../crawler/net-policy';
import { resolveUrl } from '../crawler/url-normalizer';
import { checkLiteralAddress, guardedLookup } from './guarded-lookup';
import { GuardedProxy, type ProxySettings } from './guarded-proxy';

/**
 * The only way the crawler talks HTTP. Keep-alive pools; every connection's address is checked
 * against the net policy after DNS resolution, and every redirect hop is followed here so it is
 * checked, normalised and bounded too. Bodies are streamed (and decompressed) with a byte limit
 * and an overall deadline, so a huge, bomb-like or trickling response cannot hold a worker.
 *
 * undici's dispatcher, not axios or node:http: this is the hottest path of a crawl (one request
 * per image). axios' config merging cost more CPU per request than the request itself, and
 * node:http's request objects and streams two to three times what undici's handler interface
 * costs (measured: 26,000 image requests to a local nginx, ~5.2 against ~2 CPU s). Peer file
 * transfers, which are few, keep axios.
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
  /** Starts timing a fetch of `kind`; the returned function is told how it ended (metrics). */
  timeFetch?: (kind: FetchKind) => (ok: boolean) => void;
  /** Told of each connection the browser proxy refused (render mode). */
  onProxyRefused?: (message: string) => void;
}

export interface FetchRequest {
  /** What is fetched: a label of the fetch-duration metric. Default 'other'. */
  kind?: FetchKind;
  accept: string;
  maxBytes: number;
  /** Follow redirects here (default), or return the 3xx with its `location` for the caller to schedule. */
  followRedirects?: boolean;
  /** Asked before each redirect hop is requested; throws to refuse it (robots.txt of the hop's host). */
  checkHop?: (url: string) => Promise<void>;
  /** The network policy of this request (its session's); default: the client's own. */
  network?: NetPolicyOptions;
  /**
   * Validators of a copy we hold (a re-crawl): sent as If-None-Match / If-Modified-Since with the
   * first request (not after a redirect: they describe this URL's answer), and a 304 is then
   * answered as `notModified` instead of an error.
   */
  conditional?: { etag: string | null; lastModified: string | null };
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
  /** The answer's ETag and Last-Modified (what a later re-crawl asks with). */
  etag?: string;
  lastModified?: string;
  /** A 304 to a conditional request: the copy we hold is current (no body). */
  notModified?: boolean;
}

/** What a browser sends for <img> requests; CDNs pick the format (or answer at all) by it. */
export const IMAGE_ACCEPT = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';
export const PAGE_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** One hop's answer: a redirect or an error status comes without its body. */
interface HopResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body, decoded; empty unless the status is 2xx. */
  body: Buffer;
}

/** A network policy and the keep-alive pool whose connections it checked. */
interface Route {
  policy: NetPolicy;
  dispatcher: Agent;
}

export class HttpClient {
  private readonly route: Route;
  /** Pools of the other policies sessions asked for (a connection never serves a stricter policy than its own). */
  private readonly routes = new Map<string, Route>();
  private proxy: GuardedProxy | null = null;

  constructor(private readonly opts: HttpClientOptions) {
    this.route = this.newRoute(opts.netPolicy);
  }

  async fetch(url: string, req: FetchRequest): Promise<FetchResult> {
    const deadline = new Deadline(this.opts.requestTimeoutMs);
    const done = this.opts.timeFetch?.(req.kind ?? 'other');
    let ok = false;
    try {
      const res = await this.fetchWithin(url, req, this.routeFor(req.network), deadline);
      ok = true;
      return res;
    } finally {
      deadline.clear();
      done?.(ok);
    }
  }

  private newRoute(policy: NetPolicy): Route {
    const idle = this.opts.connectTimeoutMs;
    const dispatcher = new Agent({
      connections: this.opts.maxSocketsPerHost ?? 64,
      keepAliveTimeout: 30_000,
      // A silent server: no connection, no headers, or a body that stops, within the connect timeout.
      headersTimeout: idle,
      bodyTimeout: idle,
      connect: { lookup: guardedLookup(policy), timeout: idle },
    });
    return { policy, dispatcher };
  }

  private routeFor(network: NetPolicyOptions | undefined): Route {
    if (!network) return this.route;
    const key = NetPolicy.key(network);
    let route = this.routes.get(key);
    if (!route) {
      route = this.newRoute(new NetPolicy(network));
      this.routes.set(key, route);
    }
    return route;
  }

  private async fetchWithin(url: string, req: FetchRequest, route: Route, deadline: Deadline): Promise<FetchResult> {
    const redirects: string[] = [];
    let current = url;
    for (;;) {
      const parsed = new URL(current);
      checkLiteralAddress(parsed.hostname, route.policy);
      const conditional = current === url ? req.conditional : undefined;
      const res = await this.request(parsed, req, route.dispatcher, deadline, conditional);
      const status = res.status;
      if (status === 304 && conditional) return { finalUrl: current, status, contentType: '', body: Buffer.alloc(0), redirects, notModified: true };
      if (status >= 300 && status < 400 && res.headers.location) {
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
      if (status < 200 || status >= 300) throw statusError(current, status, res.headers['retry-after']);
      const validators = { etag: headerText(res.headers.etag), lastModified: headerText(res.headers['last-modified']) };
      return { finalUrl: current, status, contentType: String(res.headers['content-type'] ?? ''), body: res.body, redirects, ...validators };
    }
  }

  /**
   * A proxy for a browser the crawler drives: it connects only where `network` (default: the
   * client's own policy) allows, deciding on the same DNS answer it connects to. Started on first use.
   */
  browserProxy(network?: NetPolicyOptions): Promise<ProxySettings> {
    this.proxy ??= new GuardedProxy({ connectTimeoutMs: this.opts.connectTimeoutMs, onRefused: this.opts.onProxyRefused });
    return this.proxy.settingsFor(this.routeFor(network).policy, network ? NetPolicy.key(network) : 'client');
  }

  close(): void {
    this.proxy?.close();
    for (const route of [this.route, ...this.routes.values()]) void route.dispatcher.destroy().catch(() => undefined);
  }

  /** One GET: the answer with its body decoded and limited, or, for any status but 2xx, without it. */
  private request(url: URL, req: FetchRequest, dispatcher: Agent, deadline: Deadline, conditional?: FetchRequest['conditional']): Promise<HopResponse> {
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent, accept: req.accept, 'accept-encoding': 'gzip, deflate, br' };
    if (conditional?.etag) headers['if-none-match'] = conditional.etag;
    if (conditional?.lastModified) headers['if-modified-since'] = conditional.lastModified;
    return new Promise((resolve, reject) => {
      const exchange = new Exchange(url.href, req.maxBytes, deadline, this.opts.connectTimeoutMs, resolve, reject);
      dispatcher.dispatch(
        {
          origin: url.origin,
          path: url.pathname + url.search,
          method: 'GET',
          headers,
        },
        exchange,
      );
    });
  }

}

/** A header's text when it is one short line (a validator to send back), else undefined. */
function headerText(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return text && text.length <= 512 && !/[\r\n]/.test(text) ? text : undefined;
}

/**
 * The handler of one request on the dispatcher. Everything is decided as the answer arrives:
 * a redirect or an error status is settled at its headers (its body, when small, is then read
 * and dropped to keep the connection); a 2xx body is decoded as its Content-Encoding says and
 * collected up to the byte limit, counted after decoding, so a compression bomb stops there.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private settled = false;
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private drained = 0;
  /** The decoder of a compressed body (its output goes to `chunks`). */
  private decoder: Transform | null = null;

  constructor(
    private readonly url: string,
    private readonly maxBytes: number,
    private readonly deadline: Deadline,
    private readonly connectTimeoutMs: number,
    private readonly resolve: (res: HopResponse) => void,
    private readonly reject: (err: CrawlerError) => void,
  ) {
    deadline.guard(() => this.fail(deadline.error(url, this.status)));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) controller.abort(new Error('request no longer wanted'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    this.status = status;
    this.headers = headers;
    const declared = Number(headers['content-length']);
    // Answered at the headers; a small body is still read (and dropped) so that the keep-alive
    // connection goes back to the pool instead of being closed: 404s and redirects are common.
    if (status < 200 || status >= 300) return this.finish(declared > DRAIN_LIMIT);
    if (Number.isFinite(declared) && declared > this.maxBytes) {
      return this.fail(new PermanentFetchError(`body of ${declared} bytes exceeds the ${this.maxBytes}-byte limit`, status));
    }
    if (status === 204) return;
    const encoding = String(headers['content-encoding'] ?? '').trim().toLowerCase();
    try {
      this.decoder = decoderFor(encoding, status);
    } catch (err) {
      return this.fail(err as CrawlerError);
    }
    this.decoder?.on('data', (chunk: Buffer) => this.add(chunk));
    this.decoder?.once('error', (err) => this.fail(new TransientFetchError(`body read failed: ${err.message}`, status, err)));
    this.decoder?.once('end', () => this.finish(false));
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) {
      // The body of an answer already given: dropped, and given up on when it is not small.
      this.drained += chunk.length;
      if (this.drained > DRAIN_LIMIT) this.controller?.abort(new Error('body not needed'));
      return;
    }
    if (this.decoder) this.decoder.write(chunk);
    else this.add(chunk);
  }

  onResponseEnd(): void {
    if (this.decoder) this.decoder.end();
    else this.finish(false);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.fail(networkError(this.url, err, this.deadline, this.connectTimeoutMs, this.status));
  }

  private add(chunk: Buffer): void {
    if (this.settled) return;
    this.size += chunk.length;
    if (this.size > this.maxBytes) this.fail(new PermanentFetchError(`body exceeds the ${this.maxBytes}-byte limit`, this.status));
    else this.chunks.push(chunk);
  }

  /**
   * Settles with the answer (a non-2xx one without its body, which is then read to its end and
   * dropped); `drop` ends the exchange instead, closing the connection.
   */
  private finish(drop: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.deadline.release();
    if (drop) this.controller?.abort(new Error('body not needed'));
    const ok = this.status >= 200 && this.status < 300;
    this.resolve({ status: this.status, headers: this.headers, body: ok ? Buffer.concat(this.chunks, this.size) : EMPTY });
  }

  private fail(err: CrawlerError): void {
    if (this.settled) return;
    this.settled = true;
    this.deadline.release();
    this.decoder?.destroy();
    this.controller?.abort(err);
    this.reject(err);
  }
}

const EMPTY = Buffer.alloc(0);
/** A non-2xx body is read and dropped up to this size to keep its connection; past it, closed. */
const DRAIN_LIMIT = 64 * 1024;

/**
 * One request's overall deadline: a timer, and the one exchange it stops when it passes (each
 * redirect hop is a new one). Not an AbortController: the listeners a signal adds per request
 * cost measurably more CPU than this.
 */
class Deadline {
  expired = false;
  private stop: (() => void) | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly ms: number) {
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

  /** What a request stopped by this deadline failed with (`status`: the headers came, the body did not). */
  error(url: string, status: number): TransientFetchError {
    const after = `timeout after ${Number((this.ms / 1000).toFixed(1))} s`;
    return status
      ? new TransientFetchError(`${after}: body not received before the deadline`, status)
      : new TransientFetchError(`${after}: request to ${url} exceeded its deadline`);
  }

  clear(): void {
    clearTimeout(this.timer);
    this.stop = null;
  }
}

/** The decoder for a body's Content-Encoding (none for identity). */
function decoderFor(encoding: string, status: number): Transform | null {
  if (encoding === 'gzip' || encoding === 'x-gzip') return zlib.createGunzip(LENIENT_END);
  if (encoding === 'deflate') return inflateEither();
  if (encoding === 'br') return zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
  if (encoding !== '' && encoding !== 'identity') throw new PermanentFetchError(`unsupported Content-Encoding "${encoding}"`, status);
  return null;
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

function networkError(url: string, err: unknown, deadline: Deadline, connectTimeoutMs: number, status: number): CrawlerError {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (e instanceof CrawlerError) return e;
  }
  if (deadline.expired) return deadline.error(url, status);
  const code = (err as { code?: string }).code;
  const message = (err as Error).message ?? String(err);
  if (code === 'ENOTFOUND') return new PermanentFetchError(`host not found: ${new URL(url).hostname}`);
  if (code === 'UND_ERR_BODY_TIMEOUT') return new TransientFetchError(`body stalled for ${connectTimeoutMs} ms`, status);
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new TransientFetchError(`no response within ${connectTimeoutMs} ms (connect timeout)`, status);
  }
  return new TransientFetchError(`${code ? `${code}: ` : ''}${message}`, status, err);
}
