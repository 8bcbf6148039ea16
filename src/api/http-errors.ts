import type { NextFunction, Request, Response } from 'express';
import { ZodError, ZodType, ZodTypeDef } from 'zod';
import { formatZodError } from '../config/load-config';
import { isOutage } from '../errors';
import { getLogger } from '../logger';

const log = getLogger('api');

/** An error the client caused or can act on; everything else is a 500. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Parses `input` with `schema` or throws a 400 that says what is wrong and where. */
export function parseOr400<T>(schema: ZodType<T, ZodTypeDef, unknown>, input: unknown, what: string): T {
  try {
    return schema.parse(input);
  } catch (err) {
    if (err instanceof ZodError) throw new HttpError(400, `invalid ${what}: ${formatZodError(err)}`);
    throw err;
  }
}

export function notFound(_req: Request, res: Response): void {
  res.status(404).json({ error: 'no such endpoint' });
}

export function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  if (err instanceof HttpError) {
    res.status(err.status).json({ error: err.message });
    return;
  }
  const e = err as { type?: string; status?: number; message?: string };
  if (e.type === 'entity.parse.failed') {
    res.status(400).json({ error: `request body is not valid JSON: ${e.message}` });
    return;
  }
  if (e.status && e.status >= 400 && e.status < 500) {
    res.status(e.status).json({ error: e.message ?? 'bad request' });
    return;
  }
  if (isOutage(err)) {
    log.warn('request failed: database or Redis unavailable', { method: req.method, path: req.path, error: e.message ?? String(err) });
    res.status(503).set('Retry-After', '2').json({ error: `temporarily unavailable: ${e.message ?? String(err)}` });
    return;
  }
  log.error('request failed', { method: req.method, path: req.path, error: e.message ?? String(err) });
  res.status(500).json({ error: 'internal error; see the server log' });
}
