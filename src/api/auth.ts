import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const COOKIE = 'image_crawler_session';
/** How long a browser session opened with the token lasts. */
const SESSION_MS = 12 * 3600_000;

/**
 * Bearer-token authentication for the API. Pages opened in a browser (Bull Board) cannot add
 * headers: a link with `?token=…` once sets an HttpOnly, SameSite cookie and redirects to the
 * same address without the token (so it stays in no address bar or history). The cookie holds a
 * session secret — an expiry and a nonce signed with a key derived from the token, never the
 * token itself — so it is worthless once it expires or the token changes.
 */
export function requireToken(token: string, opts: { allowCookie?: boolean } = {}) {
  const auth = new TokenAuth(token);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (auth.hasBearer(req)) return auth.bearerValid(req) ? next() : unauthorized(res);
    if (!opts.allowCookie) return unauthorized(res);
    if (typeof req.query.token === 'string') return auth.acceptLink(req, res);
    if (auth.sessionValid(req)) return next();
    unauthorized(res);
  };
}

/** The token, and browser sessions signed with a key derived from it. */
export class TokenAuth {
  private readonly expected: Buffer;
  private readonly signingKey: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
    this.signingKey = createHash('sha256').update(`image-crawler browser session\0${token}`).digest();
  }

  hasBearer(req: Request): boolean {
    return /^Bearer\s+/i.test(req.headers.authorization ?? '');
  }

  bearerValid(req: Request): boolean {
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    return bearer !== undefined && this.isToken(bearer);
  }

  isToken(candidate: string): boolean {
    return safeEqual(digest(candidate), this.expected);
  }

  sessionValid(req: Request): boolean {
    return validSession(readCookie(req.headers.cookie, COOKIE), this.signingKey);
  }

  /** Starts a browser session: the cookie (never the token). */
  startSession(res: Response): void {
    res.cookie(COOKIE, newSession(this.signingKey), { httpOnly: true, sameSite: 'strict', path: '/', maxAge: SESSION_MS });
  }

  /** A `?token=` link: a session cookie and a redirect to the same address without the token; a wrong token, 401. */
  acceptLink(req: Request, res: Response): void {
    if (!this.isToken(String(req.query.token))) return unauthorized(res);
    this.startSession(res);
    const url = new URL(req.originalUrl, 'http://x');
    url.searchParams.delete('token');
    res.redirect(303, url.pathname + url.search);
  }
}

function unauthorized(res: Response): void {
  res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'missing or wrong bearer token' });
}

/** `expiry.nonce.signature`, the signature an HMAC of the rest. */
function newSession(key: Buffer): string {
  const body = `${Date.now() + SESSION_MS}.${randomBytes(16).toString('base64url')}`;
  return `${body}.${sign(key, body)}`;
}

function validSession(value: string | undefined, key: Buffer): boolean {
  const m = /^(\d+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(value ?? '');
  if (!m) return false;
  const given = Buffer.from(m[3], 'base64url');
  const wanted = Buffer.from(sign(key, `${m[1]}.${m[2]}`), 'base64url');
  return safeEqual(given, wanted) && Number(m[1]) > Date.now();
}

function sign(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(body).digest('base64url');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The cookie's value; a malformed one (bad percent-encoding) counts as absent, never throws. */
function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== name) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      return undefined;
    }
  }
  return undefined;
}
