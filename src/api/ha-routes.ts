import { Router } from 'express';
import { z } from 'zod';
import { HaManager } from '../ha/ha-manager';
import { haStatus } from '../ha/ha-status';
import type { Runtime } from '../runtime';
import { HttpError, parseOr400 } from './http-errors';

/** GET /api/ha-status, POST /api/ha/failover */
export function haRoutes(rt: Runtime): Router {
  const r = Router();
  const manager = new HaManager(rt.config, rt.redis);

  r.get('/ha-status', async (_req, res) => {
    res.json(await haStatus(rt.config, manager));
  });

  /** Manual failover: promote a standby (the best one, or `to`) now, whatever the primary's health. */
  r.post('/ha/failover', async (req, res) => {
    const { to } = parseOr400(z.object({ to: z.string().optional() }).strict(), req.body ?? {}, 'failover request');
    if (rt.config.database.nodes.length === 0) throw new HttpError(409, 'no database.nodes configured: nothing to fail over to');
    const view = await manager.view();
    const candidates = view.nodes.filter((n) => n.name !== view.primary && n.reachable && n.inRecovery === true);
    const target = to ? candidates.find((n) => n.name === to) : [...candidates].sort((a, b) => b.priority - a.priority)[0];
    if (!target) throw new HttpError(409, to ? `${to} is not a reachable standby` : 'no reachable standby to fail over to');
    const event = await manager.failover(view.term, view.primary, target.name, 'manual failover requested through the API', false);
    if (!event) throw new HttpError(409, 'another failover is in progress; try again');
    res.status(event.outcome === 'success' ? 200 : 500).json(event);
  });

  return r;
}
