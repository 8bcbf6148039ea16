import express, { Express, RequestHandler, Router } from 'express';
import { FailoverEvent, HaManager, HaRequestError } from '../ha/ha-manager';
import { haStatus } from '../ha/ha-status';
import type { Runtime } from '../runtime';
import { auditWhenAnswered } from './access';
import { authenticate, credentialsFor } from './auth';
import { allowIps, hsts } from './transport-guards';
import { HttpError, errorHandler, notFound, parseOr400 } from './http-errors';
import { primaryMoveBody } from './schemas';
import { syncRoutes } from './sync-routes';

/** The HA handlers, mounted on the main API (/api/ha-status, /api/ha/…) and on the HA API (port 8001). */
function haHandlers(rt: Runtime) {
  const manager = new HaManager(rt.config, rt.redis);
  const status: RequestHandler = async (_req, res) => {
    res.json(await haStatus(rt.config, manager));
  };
  /** A move of the primary asked for by an operator; HaRequestError (nothing can be done) is a 409. */
  const move =
    (what: string, run: (to?: string) => Promise<FailoverEvent>): RequestHandler =>
    async (req, res) => {
      const { to } = parseOr400(primaryMoveBody, req.body ?? {}, `${what} request`);
      try {
        const event = await run(to);
        res.status(event.outcome === 'success' ? 200 : 500).json(event);
      } catch (err) {
        if (err instanceof HaRequestError) throw new HttpError(409, err.message);
        throw err;
      }
    };
  /** Manual failover: promote a standby (the best one, or `to`) now, whatever the primary's health. */
  const failover = move('failover', (to) => manager.manualFailover(to));
  /** Planned switchover: nothing acknowledged is lost (the primary must be healthy). */
  const switchover = move('switchover', (to) => manager.switchover(to));
  return { manager, status, failover, switchover };
}

/** On the main API: GET /api/ha-status, POST /api/ha/failover, POST /api/ha/switchover (sync status: sync-routes) */
export function haRoutes(rt: Runtime): Router {
  const h = haHandlers(rt);
  const r = Router();
  r.get('/ha-status', h.status);
  r.post('/ha/failover', h.failover);
  r.post('/ha/switchover', h.switchover);
  return r;
}

/**
 * The HA API server (SPEC §6, default port 8001): GET /api/health (no token: for load
 * balancers), GET /api/status, POST /api/failover, POST /api/switchover, and sync control:
 * GET /api/sync-status, GET|POST /api/sync, POST /api/sync/trigger.
 */
export function createHaApp(rt: Runtime, token: string): Express {
  const h = haHandlers(rt);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', rt.config.api.trust_proxy);
  if (rt.config.api.tls) app.use(hsts);
  app.use(allowIps(rt.config.api.ha_allow_ips, 'the HA API'));
  app.use(express.json({ limit: '64kb' }));
  app.get('/api/health', async (_req, res) => {
    const view = await h.manager.view();
    const primary = view.nodes.find((n) => n.name === view.primary);
    const ok = rt.config.database.nodes.length === 0 || Boolean(primary?.reachable);
    res.status(ok ? 200 : 503).json({ ok, term: view.term, primary: view.primary });
  });
  // Reading needs a viewer; changing anything (failover, switchover, sync control) an admin, and is audited.
  const credentials = credentialsFor(token, rt.config.api);
  const read = authenticate(credentials);
  const change = authenticate(credentials, { role: 'admin' });
  const audited: RequestHandler = (req, res, next) => {
    const path = req.baseUrl + req.path;
    auditWhenAnswered(rt.knex, req, res, `${req.method} ${path} (HA API)`, path);
    next();
  };
  app.get('/api/status', read, h.status);
  app.use('/api', (req, res, next) => (req.method === 'GET' ? read(req, res, next) : change(req, res, () => audited(req, res, next))), syncRoutes(rt));
  app.post('/api/failover', change, audited, h.failover);
  app.post('/api/switchover', change, audited, h.switchover);
  app.use(notFound);
  app.use(errorHandler);
  return app;
}
