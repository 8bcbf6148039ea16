import type { Knex } from 'knex';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { type IncrementResponse, type Options, type Store, rateLimit } from 'express-rate-limit';
import { getLogger, throttledError } from '../logger';
import type { Redis } from 'ioredis';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { AppConfig } from '../config/config-schema';
import { recordAudit } from '../audit/audit-log';
import { Caller, Credentials, Role, authenticate } from './auth';
import { OPERATIONS } from './openapi';

/**
 * Who may call what, from one table: each API operation's least role is in OPERATIONS (the
 * OpenAPI document shows it as `x-role`), so what is documented is what is enforced. Every
 * call that changes something is written to the audit log once answered: who, from where,
 * what, on what, with which (redacted) parameters, and the status it got.
 */
export function guardApi(credentials: Credentials, knex: Knex, limits: RateLimits) {
  const table = OPERATIONS.map((op) => ({ op, method: op.method.toUpperCase(), path: new RegExp(`^${op.path.replace(/\{[A-Za-z]+\}/g, '[^/]+')}/?$`) }));
  const { perCaller, authFailures } = limits;
  // One authenticator per role, made once (not per request).
  const asRole = Object.fromEntries((['viewer', 'operator', 'admin'] as Role[]).map((role) => [role, authenticate(credentials, { allowCookie: true, role })])) as Record<Role, RequestHandler>;
  return (req: Request, res: Response, next: NextFunction): void => {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const path = req.baseUrl + req.path; // (mounted: req.path alone is relative to the mount point)
    const hit = table.find((t) => t.method === method && t.path.test(path));
    if (hit?.op.open) return next();
    // Failed sign-ins per address first, then who it is, then that caller's share of requests.
    authFailures(req, res, () =>
      // Unknown API paths still need a caller (their 404 says nothing to strangers).
      asRole[hit?.op.role ?? 'viewer'](req, res, () => {
        const limited = hit?.op.path === '/api/events' ? (_q: Request, _s: Response, go: () => void) => go() : perCaller;
        limited(req, res, () => {
          if (hit && method !== 'GET') auditWhenAnswered(knex, req, res, `${method} ${hit.op.path}`, path);
          next();
        });
      }),
    );
  };
}

const STORE_TIMEOUT_MS = 1000;
const reportStoreTrouble = throttledError(getLogger('api'), 'rate limits not counted: Redis does not answer');

/**
 * The Redis counts, failing open: a Redis that does not answer within a second (the runtime's
 * connection queues commands through an outage) must not hold requests, so the request is
 * let through uncounted and the trouble logged (once, then once per 10 s).
 */
class FailOpenStore implements Store {
  readonly localKeys = false;

  constructor(private readonly inner: RedisStore, private readonly windowMs: number) {}

  init(options: Options): void {
    this.inner.init(options);
  }

  async increment(key: string): Promise<IncrementResponse> {
    return this.guard(this.inner.increment(key), () => ({ totalHits: 1, resetTime: new Date(Date.now() + this.windowMs) }));
  }

  async decrement(key: string): Promise<void> {
    await this.guard(this.inner.decrement(key), () => undefined);
  }

  async resetKey(key: string): Promise<void> {
    await this.guard(this.inner.resetKey(key), () => undefined);
  }

  private async guard<T>(work: Promise<T>, fallback: () => T): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${STORE_TIMEOUT_MS} ms`)), STORE_TIMEOUT_MS);
    });
    work.catch(() => undefined); // an answer after the timeout is of no use
    try {
      return await Promise.race([work, late]);
    } catch (err) {
      reportStoreTrouble(err as Error);
      return fallback();
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface RateLimits {
  perCaller: RequestHandler;
  authFailures: RequestHandler;
}

/** Limits shared by every process through Redis (express-rate-limit with a Redis store). */
export function rateLimits(redis: Redis, prefix: string, config: AppConfig['api']['rate_limit']): RateLimits {
  const send = (command: string, ...args: string[]) => redis.call(command, ...args) as Promise<RedisReply>;
  const store = (name: string) => new FailOpenStore(new RedisStore({ prefix: `${prefix}:ratelimit:${name}:`, sendCommand: send }), config.window_s * 1000);
  const common = { windowMs: config.window_s * 1000, standardHeaders: 'draft-7' as const, legacyHeaders: false };
  return {
    perCaller: rateLimit({
      ...common,
      limit: config.max,
      store: store('caller'),
      keyGenerator: (req, res) => (res.locals.caller ? `t:${(res.locals.caller as Caller).name}` : `ip:${req.ip ?? 'unknown'}`),
      handler: (_req, res, _next, opts) => res.status(429).json({ error: `too many requests: at most ${opts.limit} per ${config.window_s} s for this token` }),
    }),
    authFailures: rateLimit({
      ...common,
      limit: config.auth_failures_max,
      store: store('auth'),
      keyGenerator: (req) => `ip:${req.ip ?? 'unknown'}`,
      // Only failed sign-ins count; once over, every request from the address waits out the window.
      skipSuccessfulRequests: true,
      requestWasSuccessful: (_req, res) => res.statusCode !== 401,
      handler: (_req, res, _next, opts) => res.status(429).json({ error: `too many failed sign-ins from this address: at most ${opts.limit} per ${config.window_s} s` }),
    }),
  };
}

/** Records the caller's request in the audit log once it has been answered (with its status). */
export function auditWhenAnswered(knex: Knex, req: Request, res: Response, action: string, target: string): void {
  const caller = res.locals.caller as Caller;
  res.on('finish', () => {
    void recordAudit(knex, { actor: caller.name, role: caller.role, ip: req.ip ?? null, action, target, params: req.body ?? {}, outcome: String(res.statusCode) });
  });
}
