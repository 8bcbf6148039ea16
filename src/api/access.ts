import type { Knex } from 'knex';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Redis } from 'ioredis';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { AppConfig } from '../config/config-schema';
import { recordAudit } from '../audit/audit-log';
import { Caller, Credentials, authenticate } from './auth';
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
  return (req: Request, res: Response, next: NextFunction): void => {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const path = req.baseUrl + req.path; // (mounted: req.path alone is relative to the mount point)
    const hit = table.find((t) => t.method === method && t.path.test(path));
    if (hit?.op.open) return next();
    // Failed sign-ins per address first, then who it is, then that caller's share of requests.
    authFailures(req, res, () =>
      // Unknown API paths still need a caller (their 404 says nothing to strangers).
      authenticate(credentials, { allowCookie: true, role: hit?.op.role ?? 'viewer' })(req, res, () => {
        const limited = hit?.op.path === '/api/events' ? (_q: Request, _s: Response, go: () => void) => go() : perCaller;
        limited(req, res, () => {
          if (hit && method !== 'GET') auditWhenAnswered(knex, req, res, `${method} ${hit.op.path}`, path);
          next();
        });
      }),
    );
  };
}

export interface RateLimits {
  perCaller: RequestHandler;
  authFailures: RequestHandler;
}

/** Limits shared by every process through Redis (express-rate-limit with a Redis store). */
export function rateLimits(redis: Redis, prefix: string, config: AppConfig['api']['rate_limit']): RateLimits {
  const store = (name: string) =>
    new RedisStore({ prefix: `${prefix}:ratelimit:${name}:`, sendCommand: (command: string, ...args: string[]) => redis.call(command, ...args) as Promise<RedisReply> });
  const common = { windowMs: config.window_s * 1000, standardHeaders: 'draft-7' as const, legacyHeaders: false, passOnStoreError: true };
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

function auditWhenAnswered(knex: Knex, req: Request, res: Response, action: string, target: string): void {
  const caller = res.locals.caller as Caller;
  res.on('finish', () => {
    void recordAudit(knex, { actor: caller.name, role: caller.role, ip: req.ip ?? null, action, target, params: req.body ?? {}, outcome: String(res.statusCode) });
  });
}
