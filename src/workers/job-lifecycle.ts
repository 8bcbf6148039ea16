import { DelayedError, Job } from 'bullmq';
import type { SessionOptions } from '../crawler/crawl-options';
import { CrawlerError, HostBusyError, PermanentFetchError, isInternalError } from '../errors';
import { getLogger } from '../logger';
import type { StatsDelta } from '../queues/session-counters';
import type { Runtime } from '../runtime';
import type { InfraGate } from './infra-gate';

const log = getLogger('jobs');

/** Infrastructure failures (database, Redis, disk) postpone a job by this long, `worker.infra_retries` times, without using up attempts. */
const INFRA_RETRY_MS = 2000;

export interface TrackedJobData {
  sessionId: string;
  url: string;
  /** How often an infrastructure failure postponed this job. */
  infraRetries?: number;
  /** Runs of this job that are not attempts of its URL: held at the InfraGate, host busy, or ended by our own outage. */
  waits?: number;
  /** The request slot reserved for this job at its host (HostBusyError), epoch ms. */
  slotAt?: number;
  /** Enqueued again by the sweeper: every run of it counts against the URL's attempts. */
  requeued?: boolean;
}

/** What a run of a job knows besides its session's options. */
export interface RunContext {
  /** The request slot reserved for the job on an earlier run. */
  slotAt?: number;
}

export interface TrackedWork {
  /** Does the job's work, recording its outcome row; returns the statistics it adds. */
  run(options: SessionOptions, ctx: RunContext): Promise<StatsDelta>;
  /**
   * Counts one more run of the URL in its row (`reruns`; `by` -1 takes one back) and returns the
   * new count, or null when the row is no longer pending (another run recorded its outcome).
   */
  countRerun(by?: 1 | -1): Promise<number | null>;
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
    return postpone(rt, job, token, new Error(`waiting for the infrastructure to recover (${reason})`), Math.max(waitMs, INFRA_RETRY_MS), 'debug', { waited: true });
  }
  let delta: StatsDelta = {};
  let counted = false;
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
      const attempts = job.opts.attempts ?? 1;
      const tries = await triesSoFar(job, work);
      counted = tries !== null && tries > 1;
      if (tries === null) {
        log.warn('job of a URL already finished dropped', { sessionId, url, jobId: job.id });
        reopen(gate);
        return;
      }
      try {
        if (tries > attempts) {
          // Stalls (a worker died or froze) and lost jobs re-ran it: the URL is not asked for again.
          throw new PermanentFetchError(`gave up after ${attempts} attempts (the job was interrupted and re-run)`);
        }
        delta = await work.run(state.options, { slotAt: job.data.slotAt });
      } catch (err) {
        if (!(err instanceof CrawlerError)) throw err; // HostBusyError and infrastructure failures

        if (err.retryable && tries < attempts) {
          await rt.counters.add(sessionId, { retries: 1 });
          throw err;
        }
        delta = await work.recordFailure(err, state.options);
      }
    }
  } catch (err) {
    if (err instanceof HostBusyError) {
      reopen(gate);
      return postpone(rt, job, token, err, err.waitMs, 'debug', { waited: true, slotAt: err.slotAt });
    }
    if (err instanceof CrawlerError) {
      reopen(gate);
      throw err; // a retry, scheduled by BullMQ with backoff
    }
    if (isInternalError(err)) {
      reopen(gate);
      log.error('internal error in a job', { jobId: job.id, url, error: (err as Error).stack });
      throw err; // uses an attempt; the last one records the URL failed (workers/start-workers)
    }
    const reason = err instanceof Error ? err.message : String(err);
    if (gate.failed(Date.now(), reason)) log.warn('infrastructure failure: jobs of this process wait before fetching anything', { error: reason });
    // Our outage is not a failure of the URL: this run is not one of its attempts (the gate, not
    // the attempts, keeps the requests few meanwhile). Best effort: the database may be the outage.
    if (counted) await work.countRerun(-1).catch(() => undefined);
    return postpone(rt, job, token, err, INFRA_RETRY_MS, 'warn', { waited: true });
  }
  reopen(gate);
  await finishUrl(rt, sessionId, delta);
}

/**
 * Which request of its URL this run would make (1 = the first), or null when the URL's outcome
 * is already recorded. A job's first run is not written down (the hot path); any other run — a
 * retry, a stall, a re-queued job — is counted in the URL's row first, so the bound holds
 * whatever re-runs it, and across jobs.
 */
async function triesSoFar(job: Job<TrackedJobData>, work: TrackedWork): Promise<number | null> {
  const runs = (job.attemptsStarted || 1) - (job.data.waits ?? 0);
  if (runs <= 1 && !job.data.requeued) return 1;
  const reruns = await work.countRerun();
  return reruns === null ? null : reruns + 1;
}

function reopen(gate: InfraGate): void {
  if (gate.succeeded()) log.info('the infrastructure answers again: jobs proceed');
}

/** Counts one claimed URL finished and completes the session when it was the last. */
export async function finishUrl(rt: Runtime, sessionId: string, delta: StatsDelta): Promise<void> {
  if ((await rt.counters.finished(sessionId, delta)) <= 0) await rt.sessions.finishIfDrained(sessionId);
}

/**
 * Moves the job to delayed without using an attempt. `waited`: this run is not an attempt of the
 * URL (see TrackedJobData.waits); `slotAt`: the host slot reserved for the next run.
 */
async function postpone(
  rt: Runtime,
  job: Job<TrackedJobData>,
  token: string | undefined,
  err: unknown,
  delayMs: number,
  level: 'warn' | 'debug',
  how: { waited?: boolean; slotAt?: number } = {},
): Promise<never> {
  const message = err instanceof Error ? err.message : String(err);
  const data = { ...job.data, slotAt: how.slotAt };
  if (how.waited) data.waits = (data.waits ?? 0) + 1;
  if (err instanceof HostBusyError) {
    if (!token) throw err;
    log.debug('host busy, job delayed', { jobId: job.id, url: job.data.url, waitMs: delayMs });
  } else {
    data.infraRetries = (data.infraRetries ?? 0) + 1;
    if (data.infraRetries > rt.config.worker.infra_retries || !token) throw err;
    log[level]('infrastructure failure, job postponed', { jobId: job.id, url: job.data.url, attempt: data.infraRetries, error: message });
  }
  await job.updateData(data);
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}
