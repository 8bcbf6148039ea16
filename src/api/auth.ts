import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const COOKIE = 'image_crawler_token';

/**
 * Bearer-token authentication for the API. Bull Board is opened in a browser, which cannot add
 * headers: `/admin/queues?token=…` sets an HttpOnly cookie once, and the cookie is accepted
 * there too.
 */
export function requireToken(token: string, opts: { allowCookie?: boolean } = {}) {
  const expected = digest(token);
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1];
    let presented = bearer;
    if (!presented && opts.allowCookie) {
      const query = typeof req.query.token === 'string' ? req.query.token : undefined;
      if (query && safeEqual(digest(query), expected)) {
        res.cookie(COOKIE, query, { httpOnly: true, sameSite: 'strict', path: '/admin' });
        presented = query;
      } else {
        presented = readCookie(req.headers.cookie, COOKIE);
      }
    }
    if (!presented || !safeEqual(digest(presented), expected)) {
      res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'missing or wrong bearer token' });
      return;
    }
    next();
  };
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
