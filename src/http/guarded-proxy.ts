import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo, type LookupFunction } from 'node:net';
import { pipeline } from 'node:stream';
import { BlockedUrlError } from '../errors';
import type { NetPolicy } from '../crawler/net-policy';
import { checkLiteralAddress, guardedLookup, type Resolve } from './guarded-lookup';

/** What a browser is launched with (Playwright's `proxy` option has this shape). */
export interface ProxySettings {
  server: string;
  username: string;
  password: string;
}

export interface GuardedProxyOptions {
  /** Connecting to the target, and a silent target's answer. */
  connectTimeoutMs: number;
  /** Told of each connection the policy refused (the caller logs or counts it). */
  onRefused?: (message: string) => void;
  /** DNS (tests answer for names of their own). */
  resolve?: Resolve;
}

/** Headers of one connection, not of the message (RFC 9110 §7.6.1), and the proxy's own. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
const VIA = '1.1 image-crawler';
const CHALLENGE = 'Basic realm="image-crawler"';
/** `host:port` of a CONNECT (a bracketed IPv6 literal, or a name or IPv4 without colons). */
const AUTHORITY = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]/@]+):(\d{1,5})$/;

interface Tenant {
  policy: NetPolicy;
  lookup: LookupFunction;
  agent: http.Agent;
}

/**
 * An HTTP proxy on 127.0.0.1 for the browser the crawler drives (render mode). It resolves every
 * name itself and connects to the address it checked against the network policy, so the browser
 * never looks a name up: a name cannot answer "public" to the check and "internal" to the
 * connection (DNS rebinding). Plain http is forwarded (with Via); https and WebSockets go through
 * CONNECT tunnels. Each policy has its own user name, and the password is this process's random
 * secret: no other local program can borrow the proxy, nor a page one policy's reach with another's.
 */
export class GuardedProxy {
  private listening: Promise<number> | null = null;
  private readonly server: http.Server;
  private readonly password = randomBytes(24).toString('base64url');
  private readonly tenants = new Map<string, Tenant>();
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly opts: GuardedProxyOptions) {
    this.server = http.createServer((req, res) => this.forward(req, res));
    this.server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.tunnel(req, socket, head));
    this.server.on('connection', (socket: net.Socket) => this.track(socket));
  }

  /** Credentials that reach only what `policy` allows (`key`: the policy's NetPolicy.key). */
  async settingsFor(policy: NetPolicy, key: string): Promise<ProxySettings> {
    const username = `policy-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
    if (!this.tenants.has(username)) {
      // Idle pooled sockets are closed after the same time a silent target gets.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 16, timeout: this.opts.connectTimeoutMs });
      this.tenants.set(username, { policy, lookup: guardedLookup(policy, this.opts.resolve), agent });
    }
    this.listening ??= new Promise<number>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as AddressInfo).port));
    }).catch((err) => {
      this.listening = null; // the next page tries again
      throw err;
    });
    return { server: `http://127.0.0.1:${await this.listening}`, username, password: this.password };
  }

  close(): void {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
    for (const tenant of this.tenants.values()) tenant.agent.destroy();
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private tenantOf(req: http.IncomingMessage): Tenant | undefined {
    const [scheme, encoded] = (req.headers['proxy-authorization'] ?? '').split(' ');
    if (scheme?.toLowerCase() !== 'basic' || !encoded) return undefined;
    const decoded = Buffer.from(encoded, 'base64').toString();
    const colon = decoded.indexOf(':');
    const given = Buffer.from(decoded.slice(colon + 1));
    const secret = Buffer.from(this.password);
    if (colon < 0 || given.length !== secret.length || !timingSafeEqual(given, secret)) return undefined;
    return this.tenants.get(decoded.slice(0, colon));
  }

  private refused(err: unknown): { status: number; message: string } {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof BlockedUrlError) {
      this.opts.onRefused?.(message);
      return { status: 403, message };
    }
    return { status: 502, message };
  }

  /** A plain-http request in absolute form (`GET http://host/path`). */
  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const tenant = this.tenantOf(req);
    if (!tenant) {
      res.writeHead(407, { 'Proxy-Authenticate': CHALLENGE, 'Content-Length': '0' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
      if (target.protocol !== 'http:') throw new Error('only http:// is forwarded (https goes through CONNECT)');
      checkLiteralAddress(target.hostname, tenant.policy);
    } catch (err) {
      const { status, message } = err instanceof BlockedUrlError ? this.refused(err) : { status: 400, message: (err as Error).message };
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(message);
      return;
    }
    const headers = withoutHopByHop(req.headers);
    headers.host = target.host; // the target's, whatever the client said (RFC 9112 §3.2.2)
    headers.via = req.headers.via ? `${req.headers.via}, ${VIA}` : VIA;
    const upstream = http.request({
      host: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port || 80,
      path: `${target.pathname}${target.search}`,
      method: req.method,
      headers,
      agent: tenant.agent,
      lookup: tenant.lookup,
      timeout: this.opts.connectTimeoutMs,
    });
    upstream.on('response', (answer) => {
      const back = withoutHopByHop(answer.headers);
      back.via = answer.headers.via ? `${answer.headers.via}, ${VIA}` : VIA;
      try {
        res.writeHead(answer.statusCode ?? 502, back);
      } catch (err) {
        // A status or header Node will not send (an upstream answered `099`): a bad gateway, not a crash.
        answer.destroy();
        return void res.writeHead(502, { 'Content-Type': 'text/plain' }).end(`unusable answer from ${target.host}: ${(err as Error).message}`);
      }
      // An answer cut short ends the browser's request too (pipe would leave it open).
      pipeline(answer, res, () => undefined);
    });
    upstream.on('timeout', () => upstream.destroy(new Error(`${target.host} did not answer within ${this.opts.connectTimeoutMs} ms`)));
    upstream.on('error', (err) => {
      if (res.headersSent) return void res.destroy();
      const { status, message } = this.refused(err);
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(message);
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  /** `CONNECT host:port`: a byte tunnel to the address the policy allowed. */
  private tunnel(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const answer = (status: string, message = '') =>
      socket.end(`HTTP/1.1 ${status}\r\n${status.startsWith('407') ? `Proxy-Authenticate: ${CHALLENGE}\r\n` : ''}Connection: close\r\nContent-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`);
    socket.on('error', () => socket.destroy());
    const tenant = this.tenantOf(req);
    if (!tenant) return void answer('407 Proxy Authentication Required');
    let host: string;
    let port: number;
    try {
      const authority = AUTHORITY.exec(req.url ?? '');
      port = Number(authority?.[2]);
      if (!authority || port < 1 || port > 65535) throw new Error(`CONNECT needs host:port, not "${req.url}"`);
      // URL's own parsing reads an IPv4 in any of its spellings (2130706433, 0x7f.1) as the kernel would.
      const hostname = new URL(`http://${authority[1]}/`).hostname;
      checkLiteralAddress(hostname, tenant.policy);
      host = hostname.replace(/^\[|\]$/g, '');
    } catch (err) {
      if (err instanceof BlockedUrlError) return void answer('403 Forbidden', this.refused(err).message);
      return void answer('400 Bad Request', (err as Error).message);
    }
    const upstream = net.connect({ host, port, lookup: tenant.lookup, timeout: this.opts.connectTimeoutMs });
    this.track(upstream);
    let open = false;
    upstream.once('connect', () => {
      open = true;
      upstream.setTimeout(0);
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('timeout', () => upstream.destroy(new Error(`${host}:${port} did not accept a connection within ${this.opts.connectTimeoutMs} ms`)));
    upstream.on('error', (err) => {
      if (open) return void socket.destroy();
      const { status, message } = this.refused(err);
      answer(status === 403 ? '403 Forbidden' : '502 Bad Gateway', message);
    });
    socket.once('close', () => upstream.destroy());
  }
}

function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const named = String(headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim());
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.includes(name) && !named.includes(name)) out[name] = value;
  }
  return out;
}
