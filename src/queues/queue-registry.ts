import { Job, JobsOptions, Queue, Worker, WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/config-schema';
import { getLogger, throttledError } from '../logger';
import { BackupJobData, CheckJobData, CrawlJobData, DownloadQueueData, PushFilesJobData, QUEUE_NAMES, SyncJobData } from './job-types';

const log = getLogger('queues');

/**
 * The one registry of queues: each kind's payload, who consumes it and how its jobs are retried
 * and kept. Every queue of the system is opened through `openQueue` and consumed through
 * `startConsumers`, whose handler map must name every kind its process type consumes — a queue
 * without a handler does not compile.
 */
export interface QueuePayloads {
  crawl: CrawlJobData;
  download: DownloadQueueData;
  /** The repeatable HA health check: the schedule is the payload. */
  health: Record<string, never>;
  sync: SyncJobData;
  check: CheckJobData;
  backup: BackupJobData;
  /** Copies of files to one peer: one queue per pair of hosts (see pushQueueName). */
  push: PushFilesJobData;
}

export type QueueKind = keyof QueuePayloads;
/** The Procfile process types that consume queues. */
export type ConsumerProcess = 'worker' | 'backup';

/** The custom backoff type crawl and download jobs use (see workers/backoff.ts). */
export const BACKOFF_TYPE = 'crawler';

/**
 * How many finished jobs BullMQ keeps, for Bull Board (outcomes live in PostgreSQL): a window of
 * the crawl's and the file copies' work, a short one for the periodic housekeeping jobs.
 */
export const RETENTION = {
  work: { removeOnComplete: { count: 1000 }, removeOnFail: { count: 5000 } },
  housekeeping: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
} as const;

interface QueueSpec {
  /** Who consumes it. */
  consumedBy: ConsumerProcess;
  /** Its jobs' attempts, backoff and retention (the queue's default job options). */
  jobs(config: AppConfig): JobsOptions;
}

const crawlerJobs = (config: AppConfig): JobsOptions => ({ attempts: config.worker.attempts, backoff: { type: BACKOFF_TYPE }, ...RETENTION.work });

export const QUEUES = {
  crawl: { consumedBy: 'worker', jobs: crawlerJobs },
  download: { consumedBy: 'worker', jobs: crawlerJobs },
  health: { consumedBy: 'worker', jobs: () => ({ ...RETENTION.housekeeping }) },
  // A full sync or a rescue that failed is run again by the next schedule or trigger.
  sync: { consumedBy: 'worker', jobs: () => ({ attempts: 1, ...RETENTION.work }) },
  check: { consumedBy: 'worker', jobs: () => ({ ...RETENTION.housekeeping }) },
  // A failed backup raises an alert; the next schedule takes the next one.
  backup: { consumedBy: 'backup', jobs: () => ({ attempts: 1, ...RETENTION.housekeeping }) },
  push: { consumedBy: 'worker', jobs: (c) => ({ attempts: c.sync.max_retries + 1, backoff: { type: 'exponential', delay: 1000 }, ...RETENTION.work }) },
} as const satisfies Record<QueueKind, QueueSpec>;

/** What opening a queue needs: the shared connection and the configuration (prefix, attempts). */
export interface QueueContext {
  redis: Redis;
  config: AppConfig;
}

/** A push queue has a name per pair of hosts; every other kind has one queue. */
type NameArg<K extends QueueKind> = K extends 'push' ? [name: string] : [];

function queueName<K extends QueueKind>(kind: K, name: NameArg<K>): string {
  return name[0] ?? QUEUE_NAMES[kind as Exclude<QueueKind, 'push'>];
}

/**
 * Opens a queue of `kind` on the shared connection. Its connection errors are that connection's,
 * which the runtime logs once per outage; with no listener BullMQ prints every one with its
 * stack, ten a second while Redis is away.
 */
export function openQueue<K extends QueueKind>(kind: K, ctx: QueueContext, ...name: NameArg<K>): Queue<QueuePayloads[K]> {
  const queue = new Queue<QueuePayloads[K]>(queueName(kind, name), {
    connection: ctx.redis,
    prefix: ctx.config.redis.prefix,
    defaultJobOptions: QUEUES[kind].jobs(ctx.config),
  });
  queue.on('error', () => undefined);
  return queue;
}

/** One consumer of a queue: its handler, BullMQ's worker options, and what to do with a job given up. */
export interface Consumer<K extends QueueKind> {
  /** The queue's name when the kind has several (push queues). */
  name?: string;
  handle(job: Job<QueuePayloads[K]>): Promise<unknown>;
  options?: Omit<WorkerOptions, 'connection' | 'prefix'>;
  /** Told of every failed run (default: logged). */
  onFailed?(job: Job<QueuePayloads[K]> | undefined, err: Error): void;
}

type KindsOf<P extends ConsumerProcess> = { [K in QueueKind]: (typeof QUEUES)[K]['consumedBy'] extends P ? K : never }[QueueKind];

/**
 * The consumers of every queue process type `P` consumes; an empty list says this process
 * consumes none of that kind in its configuration (a single database node has no health check).
 */
export type ConsumersOf<P extends ConsumerProcess> = { [K in KindsOf<P>]: Consumer<K>[] };

/** Starts a BullMQ worker for each consumer; every worker's errors are logged, throttled. */
export function startConsumers<P extends ConsumerProcess>(consumers: ConsumersOf<P>, ctx: QueueContext): Worker[] {
  const workers: Worker[] = [];
  for (const [kind, list] of Object.entries(consumers) as [QueueKind, Consumer<QueueKind>[]][]) {
    for (const c of list) {
      const name = c.name ?? QUEUE_NAMES[kind as Exclude<QueueKind, 'push'>];
      const worker = new Worker(name, (job) => c.handle(job), { connection: ctx.redis, prefix: ctx.config.redis.prefix, ...c.options });
      worker.on('failed', (job, err) => (c.onFailed ? c.onFailed(job, err) : log.error(`${name} job failed`, { jobId: job?.id, attempts: job?.attemptsMade, error: err.message })));
      const report = throttledError(log, 'worker error');
      worker.on('error', (err) => report(err, { queue: name }));
      workers.push(worker);
    }
  }
  return workers;
}
