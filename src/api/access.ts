import type { Knex } from 'knex';
import type { NextFunction, Request, Response } from 'express';
import { recordAudit } from '../audit/audit-log';
import { Caller, Credentials, authenticate } from './auth';
import { OPERATIONS } from './openapi';

/**
 * Who may call what, from one table: each API operation's least role is in OPERATIONS (the
 * OpenAPI document shows it as `x-role`), so what is documented is what is enforced. Every
 * call that changes something is written to the audit log once answered: who, from where,
 * what, on what, with which (redacted) parameters, and the status it got.
 */
export function guardApi(credentials: Credentials, knex: Knex) {
  const table = OPERATIONS.map((op) => ({ op, method: op.method.toUpperCase(), path: new RegExp(`^${op.path.replace(/\{[A-Za-z]+\}/g, '[^/]+')}/?$`) }));
  return (req: Request, res: Response, next: NextFunction): void => {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const path = req.baseUrl + req.path; // (mounted: req.path alone is relative to the mount point)
    const hit = table.find((t) => t.method === method && t.path.test(path));
    if (hit?.op.open) return next();
    // Unknown API paths still need a caller (their 404 says nothing to strangers).
    authenticate(credentials, { allowCookie: true, role: hit?.op.role ?? 'viewer' })(req, res, () => {
      if (hit && method !== 'GET') auditWhenAnswered(knex, req, res, `${method} ${hit.op.path}`, path);
      next();
    });
  };
}

function auditWhenAnswered(knex: Knex, req: Request, res: Response, action: string, target: string): void {
  const caller = res.locals.caller as Caller;
  res.on('finish', () => {
    void recordAudit(knex, { actor: caller.name, role: caller.role, ip: req.ip ?? null, action, target, params: req.body ?? {}, outcome: String(res.statusCode) });
  });
}
