import { Worker } from 'bullmq';
import { getLogger } from '../logger';
import { runConsistencyCheck } from '../consistency/consistency-check';
import { rescueRows } from '../consistency/rescue';
import type { SyncJobData } from '../queues/job-types';
import { Consumer, ConsumersOf, RETENTION, startConsumers } from '../queues/queue-registry';
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

type SyncConsumers = Pick<ConsumersOf<'worker'>, 'sync' | 'check' | 'push'>;

/**
 * This host's share of file replication: one consumer per peer for the copies from this host
 * to it, a consumer of the shared `sync` queue (full syncs, rescues), whose full sync is scheduled every
 * `full_sync_interval_s` and run once when the host starts (a host coming back collects what
 * it missed), and a consumer of `consistency-check`, scheduled at the same interval.
 */
export async function syncConsumers(rt: Runtime): Promise<SyncConsumers> {
  const fileSync = rt.fileSync;
  const runners: { [K in SyncJobData['kind']]: (data: Extract<SyncJobData, { kind: K }>) => Promise<unknown> } = {
    'full-sync': () => fileSync.fullSync(),
    rescue: (data) => rescueRows(rt.config, data.node, rt.router.primary),
  };
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
  // One job at a time per process; the lock is renewed while a long one runs.
  return {
    sync: [
      {
        handle: (job) => runners[job.data.kind](job.data as never),
        options: { concurrency: 1, lockDuration: 120_000 },
        onFailed: (job, err) => log.error('sync job failed', { kind: job?.data.kind, error: err.message }),
      },
    ],
    check: [
      {
        handle: (job) => runConsistencyCheck(rt, job.data.trigger, job.data.repair ?? true),
        options: { concurrency: 1, lockDuration: 300_000 },
        onFailed: (job, err) => log.error('consistency-check job failed', { trigger: job?.data.trigger, error: err.message }),
      },
    ],
    push: fileSync.enabled ? fileSync.peers.map((peer) => pushConsumer(rt, peer)) : [],
  };
}

/** Starts this host's file replication consumers alone (tests, the sync benchmark). */
export async function startSyncWorkers(rt: Runtime): Promise<SyncWorkers> {
  const workers = startConsumers<'worker'>({ crawl: [], download: [], health: [], ...(await syncConsumers(rt)) }, rt);
  return {
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}

/** Copies files from this host to one peer; while the peer does not answer, its queue waits. */
function pushConsumer(rt: Runtime, peer: PeerClient): Consumer<'push'> {
  const queue = rt.fileSync.pushQueues.get(peer.peer.name);
  if (!queue) throw new Error(`no push queue for ${peer.peer.name}`);
  let down = false;
  return {
    name: queue.name,
    async handle(job) {
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
    options: {
      concurrency: rt.config.sync.concurrency,
      // A limiter makes BullMQ honour the manual rate limit above; the numbers themselves never bind.
      limiter: { max: 1_000_000, duration: 1000 },
    },
    onFailed: (job, err) => log.error('copy to peer failed', { peer: peer.peer.name, files: job?.data.files.length, attempts: job?.attemptsMade, error: err.message }),
  };
}
