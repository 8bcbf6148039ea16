import { DelayedError, Job } from 'bullmq';
import type { SessionOptions } from '../crawler/crawl-options';
import { CrawlerError } from '../errors';
import { getLogger } from '../logger';
import type { StatsDelta } from '../queues/session-counters';
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
  /** Does the job's work, recording its outcome row; returns the statistics it adds. */
  run(options: SessionOptions): Promise<StatsDelta>;
  /** Records a final failure (the row gets the error) and returns its statistics. */
  recordFailure(err: CrawlerError, options: SessionOptions): Promise<StatsDelta>;
  /** Records the URL as skipped because its session is stopping. */
  skip(): Promise<void>;
}

/**
 * The life of every crawl and download job, in one place: skip it when its session is
 * stopping; run it; on a retryable failure with attempts left, throw so BullMQ retries with
 * backoff; on a final failure, record it; on an infrastructure failure (database failing over,
 * disk), postpone without using an attempt; and finally count the URL finished, completing the
 * session when it was the last one.
 */
export async function runTrackedJob(rt: Runtime, job: Job<TrackedJobData>, token: string | undefined, work: TrackedWork): Promise<void> {
  const { sessionId, url } = job.data;
  let delta: StatsDelta = {};
  try {
    const state = await rt.sessions.state(sessionId);
    if (!state || (state.status !== 'running' && state.status !== 'stopping')) {
      log.warn('job of an unknown or finished session dropped', { sessionId, url, jobId: job.id });
      return;
    }
    if (state.status === 'stopping') {
      await work.skip();
    } else {
      try {
        delta = await work.run(state.options);
      } catch (err) {
        if (!(err instanceof CrawlerError)) throw err;
        const attempts = job.opts.attempts ?? 1;
        if (err.retryable && job.attemptsMade + 1 < attempts) {
          await rt.counters.add(sessionId, { retries: 1 });
          throw err;
        }
        delta = await work.recordFailure(err, state.options);
      }
    }
  } catch (err) {
    if (err instanceof CrawlerError) throw err; // a retry, scheduled by BullMQ with backoff
    return postpone(job, token, err);
  }
  await finishUrl(rt, sessionId, delta);
}

/** Counts one claimed URL finished and completes the session when it was the last. */
export async function finishUrl(rt: Runtime, sessionId: string, delta: StatsDelta): Promise<void> {
  if ((await rt.counters.finished(sessionId, delta)) <= 0) await rt.sessions.finishIfDrained(sessionId);
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
