import { Job, Worker } from 'bullmq';
import { getLogger, throttledError } from '../logger';
import { runConsistencyCheck } from '../consistency/consistency-check';
import { rescueRows } from '../consistency/rescue';
import { CheckJobData, PushFilesJobData, QUEUE_NAMES, SyncJobData } from '../queues/job-types';
import { RETENTION } from '../queues/queues';
import type { Runtime } from '../runtime';
import { ContentStore } from '../storage/content-store';
import { PeerClient, PeerUnreachableError } from '../sync/peer-client';

const log = getLogger('sync-worker');

/** How long the copies to a peer that does not answer wait before the next try. */
export const PEER_RETRY_MS = 2000;
const FULL_SYNC_SCHEDULER = 'full-sync';
const CHECK_SCHEDULER = 'consistency-check';

export interface SyncWorkers {
  close(): Promise<void>;
}

/**
 * This host's share of file replication: one consumer per peer for the copies from this host
 * to it, a consumer of the shared `sync` queue (full syncs, rescues), whose full sync is scheduled every
 * `full_sync_interval_s` and run once when the host starts (a host coming back collects what
 * it missed), and a consumer of `consistency-check`, scheduled at the same interval.
 */
export async function startSyncWorkers(rt: Runtime): Promise<SyncWorkers> {
  const fileSync = rt.fileSync;
  const connection = rt.redis;
  const prefix = rt.config.redis.prefix;
  const workers: Worker[] = [];

  if (fileSync.enabled) {
    for (const peer of fileSync.peers) workers.push(pushWorker(rt, peer));
  }

  const runners: Record<SyncJobData['kind'], (job: Job<SyncJobData>) => Promise<unknown>> = {
    'full-sync': () => fileSync.fullSync(),
    rescue: (job) => rescueRows(rt.config, (job.data as { node: string }).node, rt.router.primary),
  };
  /** A consumer of one shared queue, one job at a time per process, whose failures are logged. */
  const consumer = <T>(queue: string, run: (job: Job<T>) => Promise<unknown>, lockDuration: number, what: (data: T | undefined) => object) => {
    const worker = new Worker<T>(queue, run, { connection, prefix, concurrency: 1, lockDuration });
    worker.on('failed', (job, err) => log.error(`${queue} job failed`, { ...what(job?.data), error: err.message }));
    const report = throttledError(log, `${queue} worker error`);
    worker.on('error', (err) => report(err));
    workers.push(worker as Worker);
  };
  consumer<SyncJobData>(QUEUE_NAMES.sync, (job) => runners[job.data.kind](job), 120_000, (d) => ({ kind: d?.kind }));
  consumer<CheckJobData>(QUEUE_NAMES.check, (job) => runConsistencyCheck(rt, job.data.trigger, job.data.repair ?? true), 300_000, (d) => ({ trigger: d?.trigger }));
  const every = Math.round(rt.config.sync.full_sync_interval_s * 1000);
  // First run one interval from now: a process start is no reason to re-hash every file.
  await fileSync.checkQueue.upsertJobScheduler(
    CHECK_SCHEDULER,
    { every, startDate: Date.now() + every },
    { name: 'check', data: { trigger: 'schedule' }, opts: RETENTION.housekeeping },
  );

  if (fileSync.enabled) {
    await fileSync.queue.upsertJobScheduler(
      FULL_SYNC_SCHEDULER,
      { every },
      { name: 'full-sync', data: { kind: 'full-sync', reason: 'schedule' }, opts: RETENTION.housekeeping },
    );
    await fileSync.queue.add('full-sync', { kind: 'full-sync', reason: `host ${fileSync.host} started` });
  }

  return {
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}

/** Copies files from this host to one peer; while the peer does not answer, its queue waits. */
function pushWorker(rt: Runtime, peer: PeerClient): Worker<PushFilesJobData> {
  const queue = rt.fileSync.pushQueues.get(peer.peer.name);
  if (!queue) throw new Error(`no push queue for ${peer.peer.name}`);
  let down = false;
  const worker = new Worker<PushFilesJobData>(
    queue.name,
    async (job) => {
      const outcome = { copied: 0, present: 0, gone: 0, resumed: 0 };
      for (const file of job.data.files) {
        const name = ContentStore.parseName(file);
        // Deleted here since it was queued: nothing left to copy.
        if (!(await rt.store.has(name.relativePath))) {
          outcome.gone++;
          continue;
        }
        try {
          const r = await peer.push(rt.store, name);
          if (r.existed) outcome.present++;
          else outcome.copied++;
          if (r.resumedFrom > 0) outcome.resumed++;
        } catch (err) {
          if (!(err instanceof PeerUnreachableError)) throw err;
          if (!down) log.warn('peer unreachable: copies to it wait in its queue', { peer: peer.peer.name, error: err.message });
          down = true;
          // Not an attempt: the job goes back to wait and the whole queue pauses for a while.
          await queue.rateLimit(PEER_RETRY_MS);
          throw Worker.RateLimitError();
        }
      }
      if (down) log.info('peer answers again: copying its backlog', { peer: peer.peer.name });
      down = false;
      return outcome;
    },
    {
      connection: rt.redis,
      prefix: rt.config.redis.prefix,
      concurrency: rt.config.sync.concurrency,
      // A limiter makes BullMQ honour the manual rate limit above; the numbers themselves never bind.
      limiter: { max: 1_000_000, duration: 1000 },
    },
  );
  worker.on('failed', (job, err) => log.error('copy to peer failed', { peer: peer.peer.name, files: job?.data.files.length, attempts: job?.attemptsMade, error: err.message }));
  const report = throttledError(log, 'push worker error');
  worker.on('error', (err) => report(err, { peer: peer.peer.name }));
  return worker;
}
