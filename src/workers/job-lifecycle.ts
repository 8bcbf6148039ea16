import { DelayedError, Job } from 'bullmq';
import type { SessionOptions } from '../crawler/crawl-options';
import { CrawlerError } from '../errors';
import { getLogger } from '../logger';
import type { StatsDelta } from '../queues/session-counters';
import type { Runtime } from '../runtime';
import type { InfraGate } from './infra-gate';

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
 * disk), postpone without using an attempt, and hold the process's other jobs at the InfraGate
 * so they do not fetch what they could not record; and finally count the URL finished,
 * completing the session when it was the last one.
 */
export async function runTrackedJob(rt: Runtime, job: Job<TrackedJobData>, token: string | undefined, work: TrackedWork): Promise<void> {
  const { sessionId, url } = job.data;
  const gate = rt.infraGate;
  const now = Date.now();
  if (!gate.tryPass(now)) {
    // Something this process depends on failed moments ago: wait without fetching anything.
    const { waitMs, reason } = gate.state(now);
    return postpone(job, token, new Error(`waiting for the infrastructure to recover (${reason})`), Math.max(waitMs, INFRA_RETRY_MS), 'debug');
  }
  let delta: StatsDelta = {};
  try {
    const state = await rt.sessions.state(sessionId);
    if (!state || (state.status !== 'running' && state.status !== 'stopping')) {
      log.warn('job of an unknown or finished session dropped', { sessionId, url, jobId: job.id });
      reopen(gate); // the database answered: a probe must always report back
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
    if (err instanceof CrawlerError) {
      reopen(gate);
      throw err; // a retry, scheduled by BullMQ with backoff
    }
    const reason = err instanceof Error ? err.message : String(err);
    if (gate.failed(Date.now(), reason)) log.warn('infrastructure failure: jobs of this process wait before fetching anything', { error: reason });
    return postpone(job, token, err, INFRA_RETRY_MS, 'warn');
  }
  reopen(gate);
  await finishUrl(rt, sessionId, delta);
}

function reopen(gate: InfraGate): void {
  if (gate.succeeded()) log.info('the infrastructure answers again: jobs proceed');
}

/** Counts one claimed URL finished and completes the session when it was the last. */
export async function finishUrl(rt: Runtime, sessionId: string, delta: StatsDelta): Promise<void> {
  if ((await rt.counters.finished(sessionId, delta)) <= 0) await rt.sessions.finishIfDrained(sessionId);
}

async function postpone(job: Job<TrackedJobData>, token: string | undefined, err: unknown, delayMs: number, level: 'warn' | 'debug'): Promise<never> {
  const n = (job.data.infraRetries ?? 0) + 1;
  const message = err instanceof Error ? err.message : String(err);
  if (n > MAX_INFRA_RETRIES || !token) throw err;
  log[level]('infrastructure failure, job postponed', { jobId: job.id, url: job.data.url, attempt: n, error: message });
  await job.updateData({ ...job.data, infraRetries: n });
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}
