import { Router } from 'express';
import type { Queue } from 'bullmq';
import { BackupService } from '../backup/backup-service';
import type { BackupJobData } from '../queues/job-types';
import type { Runtime } from '../runtime';
import { parseOr400 } from './http-errors';
import { backupRunBody, backupsQuery } from './schemas';

/** /api/backups: what was backed up and verified, and a backup on request (taken by the `backup` process). */
export function backupRoutes(rt: Runtime, queue: Queue<BackupJobData>): Router {
  const r = Router();
  const service = new BackupService(rt.config, rt.knex, () => rt.router.primary);
  r.get('/backups', async (req, res) => {
    const { limit } = parseOr400(backupsQuery, req.query, 'query');
    const [backups, lastGood] = await Promise.all([service.list(limit), service.lastGood()]);
    res.json({ backups, lastGood, schedule: rt.config.backup.schedule });
  });
  r.post('/backups', async (req, res) => {
    const { type } = parseOr400(backupRunBody, req.body ?? {}, 'backup request');
    const job = await queue.add(type, { kind: type, trigger: 'api' });
    res.status(202).json({ queued: `${type} ${job.id}`, note: 'taken by the backup process (image-crawler backup worker); see GET /api/backups' });
  });
  return r;
}
