import { Router } from 'express';
import { runConsistencyCheck } from '../consistency/consistency-check';
import type { Runtime } from '../runtime';
import { syncOverview } from '../sync/sync-overview';
import { parseOr400 } from './http-errors';
import { syncControlBody, syncTriggerBody } from './schemas';

/**
 * Sync control, on the main API (/api/sync-status, /api/sync/…, /api/ha/sync-status) and the
 * HA API (/api/sync-status, /api/sync, /api/sync/trigger).
 */
export function syncRoutes(rt: Runtime): Router {
  const r = Router();
  const status = async (_req: unknown, res: { json(body: unknown): void }) => res.json(await syncOverview(rt));
  r.get('/sync-status', status);
  r.get('/ha/sync-status', status);
  r.get('/sync', status);

  r.post('/sync/trigger', async (req, res) => {
    const body = parseOr400(syncTriggerBody, req.body ?? {}, 'sync trigger');
    const queued: string[] = [];
    if (body.what !== 'check') {
      const job = await rt.fileSync.queue.add('full-sync', { kind: 'full-sync', reason: 'requested through the API' });
      queued.push(`full-sync ${job.id}`);
    }
    if (body.what !== 'full-sync') {
      if (body.wait) {
        const result = await runConsistencyCheck(rt, 'api', body.repair);
        res.status(200).json({ queued, check: result });
        return;
      }
      const job = await rt.fileSync.checkQueue.add('check', { trigger: 'api', repair: body.repair });
      queued.push(`check ${job.id}`);
    }
    res.status(202).json({ queued });
  });

  const control = (paused: boolean) => async (_req: unknown, res: { json(body: unknown): void }) => {
    await rt.fileSync.setPaused(paused);
    res.json({ paused });
  };
  r.post('/sync/pause', control(true));
  r.post('/sync/resume', control(false));
  r.post('/sync', async (req, res) => {
    const { action } = parseOr400(syncControlBody, req.body ?? {}, 'sync control');
    await rt.fileSync.setPaused(action === 'pause');
    res.json({ paused: action === 'pause' });
  });
  return r;
}
