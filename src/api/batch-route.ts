import http from 'node:http';
import { Socket } from 'node:net';
import type { Express, Request, Response } from 'express';
import { parseOr400 } from './http-errors';
import { batchBody } from './schemas';

type Operation = { method: string; path: string; body?: unknown };

/**
 * `POST /api/batch`: up to 100 API calls in one request, run in order through the same app —
 * so each one is authenticated with the caller's token or cookie, checked against its route's
 * role, rate limited and audited exactly as if it came alone — answering
 * `{"results": [{"status", "body"}]}` in the same order. One failing operation does not stop
 * the others.
 */
export function batchHandler(app: Express) {
  return async (req: Request, res: Response): Promise<void> => {
    const { operations } = parseOr400(batchBody, req.body ?? {}, 'batch');
    const headers: http.IncomingHttpHeaders = { host: req.headers.host };
    if (req.headers.authorization) headers.authorization = req.headers.authorization;
    if (req.headers.cookie) headers.cookie = req.headers.cookie;
    const remoteAddress = req.socket.remoteAddress ?? '';
    const forwarded = req.headers['x-forwarded-for'];
    if (forwarded) headers['x-forwarded-for'] = forwarded; // what api.trust_proxy makes of it, as for the batch itself
    const results = [];
    for (const op of operations) {
      const answer = await dispatch(app, op, headers, remoteAddress);
      let body: unknown = answer.body.toString('utf8');
      try {
        body = answer.body.length ? JSON.parse(body as string) : null;
      } catch {
        // not JSON (a file, a thumbnail): passed as text
      }
      results.push({ status: answer.status, body });
    }
    res.json({ results });
  };
}

/**
 * One request through the app in this process: a real IncomingMessage and ServerResponse (so
 * Express treats it as any other) on a socket that never connects, from the caller's address;
 * the answer is collected instead of sent.
 */
function dispatch(app: Express, op: Operation, headers: http.IncomingHttpHeaders, remoteAddress: string): Promise<{ status: number; body: Buffer }> {
  const socket = new Socket();
  Object.defineProperty(socket, 'remoteAddress', { value: remoteAddress });
  const req = new http.IncomingMessage(socket);
  req.method = op.method;
  req.url = op.path;
  req.headers = { ...headers };
  if (op.body !== undefined) {
    const payload = Buffer.from(JSON.stringify(op.body));
    req.headers['content-type'] = 'application/json';
    req.headers['content-length'] = String(payload.length);
    req.push(payload);
  }
  req.push(null);
  const res = new http.ServerResponse(req);
  const chunks: Buffer[] = [];
  const take = (chunk: unknown, encoding?: unknown) => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
  };
  return new Promise((resolve) => {
    res.write = ((chunk: unknown, encoding?: unknown) => {
      take(chunk, encoding);
      return true;
    }) as typeof res.write;
    res.end = ((chunk?: unknown, encoding?: unknown) => {
      take(chunk, encoding);
      resolve({ status: res.statusCode, body: Buffer.concat(chunks) });
      res.emit('finish'); // the audit of a change listens for it
      return res;
    }) as typeof res.end;
    app(req as Request, res as Response);
  });
}
