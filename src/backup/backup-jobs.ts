import type { Queue } from 'bullmq';
import { AlertSender } from '../alerts/alerts';
import { getLogger } from '../logger';
import type { BackupJobData } from '../queues/job-types';
import { QueueContext, RETENTION, openQueue, startConsumers } from '../queues/queue-registry';
import type { Runtime } from '../runtime';
import { overdueSince } from './backup-schedule';
import { BackupService } from './backup-service';

const log = getLogger('backup');
const KINDS = ['full', 'diff', 'incr', 'verify'] as const;
/** How often the backup process looks for kinds whose last good run is overdue. */
const OVERDUE_CHECK_MS = 5 * 60_000;

/** The backup queue, for whoever enqueues a backup (API, console). */
export function openBackupQueue(ctx: QueueContext): Queue<BackupJobData> {
  return openQueue('backup', ctx);
}

export interface BackupWorker {
  service: BackupService;
  /** Alerts raised for overdue kinds (the check runs at start, after each job, and every 5 minutes). */
  checkOverdue(now?: Date): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * The `backup` process: registers one job scheduler per kind (full, diff, incr, verify: one run
 * per schedule however many backup processes there are) and runs the jobs one at a time. A
 * failed run and a kind whose last good run is overdue raise the `backup` alert. It runs on the
 * database host: pgBackRest reads the nodes' data directories.
 */
export async function startBackupWorker(rt: Runtime): Promise<BackupWorker> {
  const { config, redis } = rt;
  const prefix = config.redis.prefix;
  const service = new BackupService(config, rt.knex, () => rt.router.primary, rt.redis);
  const alerts = new AlertSender(redis, prefix, config.alerts, rt.plugins);
  const alert = (node: string, message: string) =>
    config.alerts.backup.enabled ? alerts.send([{ kind: 'backup', node, message, cooldownS: config.alerts.backup.cooldown_s }]) : Promise.resolve([]);
  // The process starts even when setup fails (the primary away): its backups then fail, visibly.
  await service.setup().catch((err: Error) => {
    log.error('backup setup failed', { error: err.message });
    return alert('setup', `backup setup failed: ${err.message}`);
  });
  const queue = openBackupQueue(rt);
  for (const kind of KINDS) {
    await queue.upsertJobScheduler(`backup-${kind}`, { pattern: config.backup.schedule[kind] }, { name: kind, data: { kind, trigger: 'schedule' }, opts: RETENTION.housekeeping });
  }
  const watchedSince = new Date();
  const checkOverdue = async (now = new Date()): Promise<string[]> => {
    const last = await service.lastGood();
    const late: string[] = [];
    for (const kind of KINDS) {
      const since = overdueSince(config.backup.schedule[kind], last[kind]?.finished_at ?? null, watchedSince, now);
      if (since) late.push(`${kind}: no good ${kind === 'verify' ? 'verification' : `${kind} backup`} since ${since.toISOString()} (schedule ${config.backup.schedule[kind]})`);
    }
    for (const message of late) await alert(message.split(':')[0], `backup overdue — ${message}`);
    return late;
  };
  // A cluster without any good full backup is not protected: take one now rather than at the next schedule.
  if (!(await service.lastGood()).full) await queue.add('full', { kind: 'full', trigger: 'schedule' }, { jobId: `first-full-${new Date().toISOString().slice(0, 10)}` });

  const [worker] = startConsumers<'backup'>(
    {
      backup: [
        {
          async handle(job) {
            const { kind, trigger } = job.data;
            if (kind === 'verify') {
              const r = await service.verify(trigger);
              if (!r.ok) throw new Error(r.row.error ?? 'verification failed');
              return r.checks;
            }
            const row = await service.run(kind, trigger);
            return { id: row.id, label: row.label, snapshot: row.files_snapshot };
          },
          // One at a time: pgBackRest holds a lock per stanza anyway. The lock is renewed while it runs.
          options: { concurrency: 1, lockDuration: 120_000 },
          onFailed(job, err) {
            log.error('backup job failed', { kind: job?.data.kind, error: err.message });
            void alert(job?.data.kind ?? 'backup', `backup ${job?.data.kind ?? ''} failed: ${err.message}`).catch(() => undefined);
          },
        },
      ],
    },
    rt,
  );
  worker.on('completed', () => void checkOverdue().catch(() => undefined));
  const timer = setInterval(() => void checkOverdue().catch((err: Error) => log.warn('overdue check failed', { error: err.message })), OVERDUE_CHECK_MS);
  timer.unref();

  return {
    service,
    checkOverdue,
    async close() {
      clearInterval(timer);
      await worker.close();
      await queue.close();
    },
  };
}
