import { DelayedError, Job } from 'bullmq';
import type { SessionOptions } from '../crawler/crawl-options';
import { urlKey } from '../crawler/url-normalizer';
import { CrawlerError } from '../errors';
import { getLogger } from '../logger';
import type { StatsDelta } from '../queues/frontier';
import type { UrlKind } from '../queues/job-types';
import type { Runtime } from '../runtime';

const log = getLogger('jobs');

/** Infrastructure failures (database, Redis, disk) are retried this many times without using up attempts. */
const MAX_INFRA_RETRIES = 30;
const INFRA_RETRY_MS = 2000;

export interface TrackedJobData {
  sessionId: string;
  url: string;
  /** How often an infrastructure failure postponed this job. */
  infraRetries?: number;
}

export interface TrackedWork {
  /** Does the job's work; returns the statistics it adds to the session. */
  run(options: SessionOptions): Promise<StatsDelta>;
  /** Records a final failure (a row with the error) and returns its statistics. */
  recordFailure(err: CrawlerError, options: SessionOptions): Promise<StatsDelta>;
}

/**
 * The life of every crawl and download job, in one place:
 * skip it when its session is stopping; run it; on a retryable failure with attempts left,
 * throw so BullMQ retries with backoff; on a final failure, record it; on an infrastructure
 * failure (database failing over, disk), postpone without using an attempt; and finally mark
 * the URL finished exactly once, completing the session when it was the last one.
 */
export async function runTrackedJob(
  rt: Runtime,
  job: Job<TrackedJobData>,
  token: string | undefined,
  kind: UrlKind,
  work: TrackedWork,
): Promise<void> {
  const { sessionId, url } = job.data;
  const options = await rt.frontier.options(sessionId);
  if (!options) {
    log.warn('job for an unknown or expired session dropped', { sessionId, url, jobId: job.id });
    return;
  }
  let delta: StatsDelta = {};
  if ((await rt.frontier.state(sessionId)) === 'running') {
    try {
      delta = await work.run(options);
    } catch (err) {
      if (!(err instanceof CrawlerError)) return postpone(job, token, err);
      const attempts = job.opts.attempts ?? 1;
      if (err.retryable && job.attemptsMade + 1 < attempts) {
        await rt.frontier.addStats(sessionId, { retries: 1 });
        throw err;
      }
      try {
        delta = await work.recordFailure(err, options);
      } catch (recordErr) {
        return postpone(job, token, recordErr);
      }
    }
  }
  await finishUrl(rt, sessionId, kind, url, delta);
}

/** Marks the URL finished (once) and completes the session when nothing is left. */
export async function finishUrl(rt: Runtime, sessionId: string, kind: UrlKind, url: string, delta: StatsDelta): Promise<void> {
  const remaining = await rt.frontier.finish(sessionId, kind, urlKey(url), delta);
  if (remaining === 0) await rt.sessions.finishIfDrained(sessionId);
}

async function postpone(job: Job<TrackedJobData>, token: string | undefined, err: unknown): Promise<never> {
  const n = (job.data.infraRetries ?? 0) + 1;
  const message = err instanceof Error ? err.message : String(err);
  if (n > MAX_INFRA_RETRIES || !token) throw err;
  log.warn('infrastructure failure, job postponed', { jobId: job.id, url: job.data.url, attempt: n, error: message });
  await job.updateData({ ...job.data, infraRetries: n });
  await job.moveToDelayed(Date.now() + INFRA_RETRY_MS, token);
  throw new DelayedError();
}
