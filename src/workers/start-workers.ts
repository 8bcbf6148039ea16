import { DiskWatch } from '../alerts/disk-watch';
import { Job, Worker } from 'bullmq';
import { scheduleHealthChecks } from '../ha/health-check-job';
import { CrawlerError, isInternalError } from '../errors';
import { getLogger } from '../logger';
import { CrawlJobData, DownloadBatchData, DownloadJobData, DownloadQueueData, QUEUE_NAMES, isBatch } from '../queues/job-types';
import { BACKOFF_TYPE, ConsumersOf, startConsumers } from '../queues/queue-registry';
import type { Runtime } from '../runtime';
import { retryDelayMs } from './backoff';
import { createCrawlProcessor, recordCrawlFailure } from './crawl-processor';
import { createDownloadProcessor } from './download-processor';
import { FrontierSweeper } from './frontier-sweeper';
import { recordImageOutcome } from './image-ingest';
import { syncConsumers } from './sync-workers';
import { finishUrl } from './job-lifecycle';

const log = getLogger('workers');

export interface WorkerOptions {
  crawlConcurrency?: number;
  downloadConcurrency?: number;
}

export interface WorkerHandle {
  workers: Worker[];
  close(): Promise<void>;
}

/** Starts the crawl and download consumers of this process, and its share of the HA health checks and of file sync. */
export async function startWorkers(rt: Runtime, opts: WorkerOptions = {}): Promise<WorkerHandle> {
  const w = rt.config.worker;
  const pipeline = {
    lockDuration: w.lock_duration_ms,
    stalledInterval: w.stalled_interval_ms,
    maxStalledCount: 2,
    settings: {
      backoffStrategy: (attemptsMade: number, type?: string, err?: Error) =>
        type === BACKOFF_TYPE ? retryDelayMs(attemptsMade, w.backoff_ms, err) : w.backoff_ms,
    },
  };
  const downloadConcurrency = opts.downloadConcurrency ?? w.download_concurrency;
  const health = await scheduleHealthChecks(rt);
  const consumers: ConsumersOf<'worker'> = {
    crawl: [{ handle: createCrawlProcessor(rt), options: { ...pipeline, concurrency: opts.crawlConcurrency ?? w.crawl_concurrency }, onFailed: (job, err) => void onGivenUp(rt, job, err) }],
    download: [{ handle: createDownloadProcessor(rt, downloadConcurrency), options: { ...pipeline, concurrency: downloadConcurrency }, onFailed: (job, err) => void onGivenUp(rt, job, err) }],
    health: health ? [health.consumer] : [],
    ...(await syncConsumers(rt)),
  };
  const workers = startConsumers(consumers, rt);

  const sweeper = new FrontierSweeper(rt);
  sweeper.start();
  const disk = new DiskWatch(rt.config, rt.redis, rt.plugins);
  disk.start();

  return {
    workers: workers.filter((x) => x.name === QUEUE_NAMES.crawl || x.name === QUEUE_NAMES.download),
    async close() {
      disk.stop();
      await sweeper.stop();
      await Promise.all(workers.map((x) => x.close()));
      await health?.close();
      await Promise.allSettled([rt.images.drain(), rt.pages.drain()]);
    },
  };
}

/**
 * A batch given up (its worker kept dying on it, or Redis kept failing it) is split: each URL
 * still pending becomes a job of its own whose every run counts against the URL's attempts — an
 * image that kills its worker then fails alone, and the others are stored. If even that fails,
 * the sweeper enqueues the pending URLs once they have been idle.
 */
async function splitBatch(rt: Runtime, job: Job<DownloadBatchData>, err: Error): Promise<void> {
  const { sessionId, images } = job.data;
  log.warn('download batch given up: its URLs go on one job each', { jobId: job.id, count: images.length, error: err.message });
  await rt.queues.requeue(sessionId, [], images).catch((splitErr) =>
    log.error('could not split a given-up batch; the sweeper will enqueue its URLs', { jobId: job.id, error: (splitErr as Error).message }),
  );
}

/**
 * The processor records its own final failures; this catches the ones it could not: a job that
 * stalled too often (its worker kept dying or froze), or that hit a bug of ours every time,
 * recorded and finished so the session still completes. A job whose infrastructure retries ran out (the database was away for
 * minutes) is not a failure of its URL: its row stays pending and the sweeper enqueues it again
 * once the database answers. Either way the job stays in BullMQ's failed set for inspection
 * until then.
 */
async function onGivenUp(rt: Runtime, job: Job<CrawlJobData | DownloadQueueData> | undefined, err: Error): Promise<void> {
  if (!job) return;
  const stalled = /stalled/i.test(err.message);
  const exhausted = job.attemptsMade >= (job.opts.attempts ?? 1);
  if (isBatch(job.data)) {
    // Only once BullMQ gives up on it (a failed attempt with attempts left is retried as a batch).
    return stalled || exhausted ? splitBatch(rt, job as Job<DownloadBatchData>, err) : undefined;
  }
  // A bug in our code (TypeError and kin) is not an outage that will pass: re-queueing it
  // forever would keep its session from ever ending. The URL is recorded failed, with the bug.
  const bug = exhausted && isInternalError(err);
  const final = stalled || bug || (err instanceof CrawlerError && exhausted);
  if (!final) {
    if (exhausted) {
      log.warn('job gave up waiting for the infrastructure; the sweeper will enqueue it again', { queue: job.queueName, jobId: job.id, url: (job.data as DownloadJobData | CrawlJobData).url, error: err.message });
    }
    return;
  }
  const { sessionId, url } = job.data as DownloadJobData | CrawlJobData;
  log.error('job given up', { queue: job.queueName, jobId: job.id, url, error: err.message });
  try {
    if (job.queueName === QUEUE_NAMES.download) {
      const delta = await recordImageOutcome(rt, job.data as DownloadJobData, 'failed', 0, `gave up: ${bug ? 'internal error: ' : ''}${err.message}`);
      await finishUrl(rt, sessionId, delta);
    } else {
      const delta = await recordCrawlFailure(rt, job.data as CrawlJobData, 0, `gave up: ${bug ? 'internal error: ' : ''}${err.message}`);
      await finishUrl(rt, sessionId, delta);
    }
  } catch (recordErr) {
    log.error('could not record a given-up job', { jobId: job.id, error: (recordErr as Error).message });
  }
}
