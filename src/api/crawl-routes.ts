import { Router } from 'express';
import type { Runtime } from '../runtime';
import { failureGroups, sessionTimeline } from '../sessions/session-report';
import { HttpError, parseOr400 } from './http-errors';
import { crawlRequestSchema, failuresQuery, sessionId, sessionListQuery, stopBody } from './schemas';


/** POST /api/crawl/start, GET /api/crawl/status[/:id], GET /api/crawl/failures/:id, POST /api/crawl/stop */
export function crawlRoutes(rt: Runtime): Router {
  const r = Router();

  r.post('/start', async (req, res) => {
    const body = req.body && typeof req.body === 'object' && 'startUrls' in req.body && !('urls' in req.body)
      ? { ...req.body, urls: req.body.startUrls, startUrls: undefined }
      : req.body;
    const request = parseOr400(crawlRequestSchema, stripUndefined(body), 'crawl request');
    const { id, options } = await rt.sessions.start(request);
    res.status(202).json({ sessionId: id, status: 'running', options });
  });

  r.get('/status/:id', async (req, res) => {
    const id = parseOr400(sessionId, req.params.id, 'session id');
    const view = await rt.sessions.view(id);
    if (!view) throw new HttpError(404, `no crawl session ${id}`);
    res.json(view);
  });

  r.get('/status', async (req, res) => {
    const q = parseOr400(sessionListQuery, req.query, 'query');
    if (q.sessionId) {
      const view = await rt.sessions.view(q.sessionId);
      if (!view) throw new HttpError(404, `no crawl session ${q.sessionId}`);
      res.json(view);
      return;
    }
    res.json({ sessions: await rt.sessions.list(q.limit, q.offset), limit: q.limit, offset: q.offset });
  });

  r.get('/failures/:id', async (req, res) => {
    const id = parseOr400(sessionId, req.params.id, 'session id');
    if (!(await rt.sessions.view(id))) throw new HttpError(404, `no crawl session ${id}`);
    const { samples } = parseOr400(failuresQuery, req.query, 'query');
    res.json({ sessionId: id, groups: await failureGroups(rt.knex, id, samples) });
  });

  r.get('/timeline/:id', async (req, res) => {
    const id = parseOr400(sessionId, req.params.id, 'session id');
    if (!(await rt.sessions.view(id))) throw new HttpError(404, `no crawl session ${id}`);
    res.json({ sessionId: id, ...(await sessionTimeline(rt.knex, id)) });
  });

  r.post('/stop', async (req, res) => {
    const { sessionId: id } = parseOr400(stopBody, req.body ?? {}, 'stop request');
    const view = await rt.sessions.stop(id);
    if (!view) throw new HttpError(404, `no crawl session ${id}`);
    res.json(view);
  });

  return r;
}

function stripUndefined(v: unknown): unknown {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined));
}
