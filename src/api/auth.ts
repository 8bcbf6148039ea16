import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NextFunction, Request, Response } from 'express';
import type { AppConfig } from '../config/config-schema';
import { type JWTVerifyGetKey, type KeyLike, createLocalJWKSet, importSPKI, jwtVerify } from 'jose';

const COOKIE = 'image_crawler_session';
/** How long a browser session opened with a token lasts. */
const SESSION_MS = 12 * 3600_000;

export type Role = 'viewer' | 'operator' | 'admin';
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** Who is calling: a configured token's name (or `api_token`) and its role. */
export interface Caller {
  name: string;
  role: Role;
}

export function allows(caller: Caller, needed: Role): boolean {
  return RANK[caller.role] >= RANK[needed];
}

/** A configured token: only its SHA-256 is known (the configuration never holds the token). */
export interface TokenEntry {
  name: string;
  role: Role;
  sha256: string;
}

/**
 * The tokens this API accepts and the browser sessions signed for them. `API_TOKEN` (api.token)
 * is one admin token, named `api_token`; `api.tokens` adds named ones with roles, given by
 * their SHA-256. A browser cannot add headers: a link with `?token=…` (or the console's sign-in
 * form) sets an HttpOnly, SameSite cookie and redirects to the same address without the token.
 * The cookie holds a session — expiry, name, role and a nonce, signed with a key derived from
 * every accepted token — never a token, so it is worthless once it expires or the tokens change.
 */
/** JWTs accepted besides the tokens: HS256 with a shared secret, or RS256/ES256 with a public key. */
export interface JwtSettings {
  /** HS256 secret (from JWT_SECRET). */
  secret?: string;
  /** PEM file of the public key (RS256 / ES256). */
  publicKeyFile?: string;
  issuer?: string;
  audience?: string;
}

export class Credentials {
  private readonly entries: { name: string; role: Role; digest: Buffer }[];
  private readonly signingKey: Buffer;
  private jwtKey: Promise<Uint8Array | KeyLike | JWTVerifyGetKey> | null = null;

  constructor(adminToken: string | undefined, tokens: TokenEntry[] = [], private readonly jwt?: JwtSettings) {
    this.entries = [
      ...(adminToken ? [{ name: 'api_token', role: 'admin' as Role, digest: digest(adminToken) }] : []),
      ...tokens.map((t) => ({ name: t.name, role: t.role, digest: Buffer.from(t.sha256, 'hex') })),
    ];
    const keyMaterial = this.entries.map((e) => `${e.name}:${e.role}:${e.digest.toString('hex')}`).join('\n');
    this.signingKey = createHash('sha256').update(`image-crawler browser session\0${keyMaterial}`).digest();
  }

  /**
   * The caller a token belongs to: a configured token, or a JWT (signature, expiry, issuer and
   * audience checked; `role` claim viewer/operator/admin, `sub` its name as `jwt:<sub>`).
   */
  async identify(token: string): Promise<Caller | null> {
    return this.staticToken(token) ?? (this.jwt && /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token) ? this.fromJwt(token) : null);
  }

  private async fromJwt(token: string): Promise<Caller | null> {
    const jwt = this.jwt as JwtSettings;
    this.jwtKey ??= jwt.publicKeyFile
      ? importPublicKey(readFileSync(jwt.publicKeyFile, 'utf8'))
      : Promise.resolve(new TextEncoder().encode(jwt.secret ?? ''));
    try {
      const key = await this.jwtKey;
      const { payload } = await jwtVerify(token, key as Uint8Array, {
        algorithms: jwt.publicKeyFile ? ['RS256', 'ES256'] : ['HS256'],
        issuer: jwt.issuer,
        audience: jwt.audience,
        requiredClaims: ['exp'],
      });
      const role = payload.role;
      if (role !== 'viewer' && role !== 'operator' && role !== 'admin') return null;
      return { name: `jwt:${payload.sub ?? 'unknown'}`.slice(0, 128), role };
    } catch {
      return null; // bad signature, expired, wrong issuer or audience: not a caller
    }
  }

  /** A configured token (every entry compared, in constant time each). */
  private staticToken(token: string): Caller | null {
    const d = digest(token);
    let found: Caller | null = null;
    for (const e of this.entries) if (safeEqual(d, e.digest) && !found) found = { name: e.name, role: e.role };
    return found;
  }

  hasBearer(req: Request): boolean {
    return /^Bearer\s+/i.test(req.headers.authorization ?? '');
  }

  /** The caller of a request: its bearer token, or (where browsers are let in) its session cookie. */
  async callerOf(req: Request, allowCookie: boolean): Promise<Caller | null> {
    if (this.hasBearer(req)) return this.identify(/^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '');
    return allowCookie ? this.session(req) : null;
  }

  session(req: Request): Caller | null {
    const m = /^(\d+)\.([A-Za-z0-9_-]+)\.(viewer|operator|admin)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(readCookie(req.headers.cookie, COOKIE) ?? '');
    if (!m) return null;
    const given = Buffer.from(m[5], 'base64url');
    const wanted = Buffer.from(this.sign(`${m[1]}.${m[2]}.${m[3]}.${m[4]}`), 'base64url');
    if (!safeEqual(given, wanted) || Number(m[1]) <= Date.now()) return null;
    return { name: Buffer.from(m[2], 'base64url').toString(), role: m[3] as Role };
  }

  /** Starts a browser session for `caller`: the cookie (never the token). */
  startSession(res: Response, caller: Caller): void {
    const body = `${Date.now() + SESSION_MS}.${Buffer.from(caller.name).toString('base64url')}.${caller.role}.${randomBytes(16).toString('base64url')}`;
    res.cookie(COOKIE, `${body}.${this.sign(body)}`, { httpOnly: true, sameSite: 'strict', path: '/', maxAge: SESSION_MS });
  }

  endSession(res: Response): void {
    res.clearCookie(COOKIE, { path: '/' });
  }

  /** A `?token=` link: a session and a redirect to the same address without the token; a wrong token, 401. */
  async acceptLink(req: Request, res: Response): Promise<void> {
    const caller = await this.identify(String(req.query.token));
    if (!caller) return unauthorized(res);
    this.startSession(res, caller);
    const url = new URL(req.originalUrl, 'http://x');
    url.searchParams.delete('token');
    res.redirect(303, url.pathname + url.search);
  }

  private sign(body: string): string {
    return createHmac('sha256', this.signingKey).update(body).digest('base64url');
  }
}

/**
 * Authentication: sets `res.locals.caller`, or answers 401 (403 with too little a role for
 * `role`). `allowCookie`: browsers' sessions count (and `?token=` links start one).
 */
export function authenticate(credentials: Credentials, opts: { allowCookie?: boolean; role?: Role } = {}) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (opts.allowCookie && !credentials.hasBearer(req) && typeof req.query.token === 'string') return void credentials.acceptLink(req, res).catch(next);
    credentials.callerOf(req, opts.allowCookie ?? false).then((caller) => {
      if (!caller) return unauthorized(res);
      if (opts.role && !allows(caller, opts.role)) return forbidden(res, caller, opts.role);
      res.locals.caller = caller;
      next();
    }, next);
  };
}

/** One shared bearer token, no roles (host to host: the sync token). */
export function requireToken(token: string) {
  return authenticate(new Credentials(token));
}

export function unauthorized(res: Response): void {
  res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'missing or wrong bearer token' });
}

export function forbidden(res: Response, caller: Caller, needed: Role): void {
  res.status(403).json({ error: `${caller.name} is a ${caller.role}; this needs the ${needed} role` });
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

/** An SPKI PEM public key, RS256 or ES256 (the PEM says which). */
async function importPublicKey(pem: string): Promise<KeyLike | JWTVerifyGetKey> {
  for (const alg of ['RS256', 'ES256']) {
    try {
      return await importSPKI(pem, alg);
    } catch {
      // the other algorithm
    }
  }
  return createLocalJWKSet({ keys: [] }); // no usable key: no JWT verifies
}

/** The credentials of a server: `adminToken` (API_TOKEN or the development one), api.tokens and api.jwt. */
export function credentialsFor(adminToken: string | undefined, api: AppConfig['api']): Credentials {
  const jwt = api.jwt && (api.jwt.secret || api.jwt.public_key_file) ? { secret: api.jwt.secret, publicKeyFile: api.jwt.public_key_file, issuer: api.jwt.issuer, audience: api.jwt.audience } : undefined;
  return new Credentials(adminToken, api.tokens, jwt);
}
