import { DelayedError, Job } from 'bullmq';
import type { SessionOptions } from '../crawler/crawl-options';
import { CrawlerError, HostBusyError, PermanentFetchError, isInternalError } from '../errors';
import { getLogger } from '../logger';
import type { StatsDelta } from '../queues/session-counters';
import type { Runtime } from '../runtime';
import type { InfraGate } from './infra-gate';

/** What this module uses of the runtime (a handler takes only its few dependencies). */
export type LifecycleDeps = Pick<Runtime, 'config' | 'counters' | 'infraGate' | 'sessions'>;

const log = getLogger('jobs');

/** Infrastructure failures (database, Redis, disk) postpone a job by this long, `worker.infra_retries` times, without using up attempts. */
export const INFRA_RETRY_MS = 2000;

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

/** What one run of one URL came to. */
export type UrlRun =
  /** Its outcome is recorded (stored, failed or skipped). */
  | { kind: 'finished'; delta: StatsDelta }
  /** Nothing to do: its session is gone or finished, or another run recorded the URL. */
  | { kind: 'dropped' }
  /** A retryable failure with attempts left (`tries` so far). */
  | { kind: 'retry'; err: CrawlerError; tries: number }
  /** Its host cannot take the request yet: not an attempt. */
  | { kind: 'busy'; err: HostBusyError; counted: boolean }
  /** A bug of ours (TypeError and kin): uses an attempt. */
  | { kind: 'bug'; err: Error; tries: number }
  /** The database, Redis or the disk failed: not an attempt of the URL. */
  | { kind: 'infra'; err: unknown; counted: boolean };

/**
 * One run of one URL, whatever job carries it: skip it when its session is stopping; count the
 * run (see triesSoFar); do the work; record a final failure. What to do about the other
 * outcomes — retry, wait for the host, wait for the infrastructure — is the caller's.
 * `rerun`: this job ran before (a stall, a retry, a re-queue), so the run is counted in the row.
 */
export async function runUrl(rt: LifecycleDeps, sessionId: string, work: TrackedWork, attempts: number, rerun: boolean, ctx: RunContext): Promise<UrlRun> {
  let counted = false;
  let tries = 1;
  try {
    const state = await rt.sessions.state(sessionId);
    if (!state || (state.status !== 'running' && state.status !== 'stopping')) return { kind: 'dropped' };
    if (state.status === 'stopping') {
      await work.skip();
      return { kind: 'finished', delta: {} };
    }
    if (rerun) {
      const reruns = await work.countRerun();
      if (reruns === null) return { kind: 'dropped' };
      tries = reruns + 1;
      counted = true;
    }
    try {
      if (tries > attempts) {
        // Stalls (a worker died or froze) and lost jobs re-ran it: the URL is not asked for again.
        throw new PermanentFetchError(`gave up after ${attempts} attempts (the job was interrupted and re-run)`);
      }
      return { kind: 'finished', delta: await work.run(state.options, ctx) };
    } catch (err) {
      if (!(err instanceof CrawlerError)) throw err; // HostBusyError and infrastructure failures
      if (err.retryable && tries < attempts) {
        await rt.counters.add(sessionId, { retries: 1 });
        return { kind: 'retry', err, tries };
      }
      return { kind: 'finished', delta: await work.recordFailure(err, state.options) };
    }
  } catch (err) {
    if (err instanceof HostBusyError) return { kind: 'busy', err, counted };
    if (err instanceof CrawlerError) return { kind: 'retry', err, tries };
    if (isInternalError(err)) return { kind: 'bug', err: err as Error, tries };
    return { kind: 'infra', err, counted };
  }
}

/**
 * The life of a job of one URL (a page, a stylesheet, an image left by a batch), around
 * runUrl: jobs wait at the InfraGate while something this process depends on is failing; a
 * retryable failure throws so BullMQ retries with backoff; a busy host or an infrastructure
 * failure postpones the job without using an attempt (the gate holds the process's other jobs
 * meanwhile, so they do not fetch what they could not record); a finished URL is counted,
 * completing the session when it was the last one.
 */
export async function runTrackedJob(rt: LifecycleDeps, job: Job<TrackedJobData>, token: string | undefined, work: TrackedWork): Promise<void> {
  const { sessionId, url } = job.data;
  const gate = rt.infraGate;
  const now = Date.now();
  if (!gate.tryPass(now)) return postponeForGate(rt, job, token);
  const run = await runUrl(rt, sessionId, work, job.opts.attempts ?? 1, isRerun(job), { slotAt: job.data.slotAt });
  if (run.kind !== 'infra') reopen(gate); // the database answered: a probe must always report back
  switch (run.kind) {
    case 'finished':
      return finishUrl(rt, sessionId, run.delta);
    case 'dropped':
      log.warn('job of a finished URL or session dropped', { sessionId, url, jobId: job.id });
      return;
    case 'retry':
      throw run.err; // a retry, scheduled by BullMQ with backoff
    case 'busy':
      // Waiting for the host is not an attempt either.
      if (run.counted) await work.countRerun(-1).catch(() => undefined);
      return postpone(rt, job, token, run.err, run.err.waitMs, 'debug', { waited: true, slotAt: run.err.slotAt });
    case 'bug':
      log.error('internal error in a job', { jobId: job.id, url, error: run.err.stack });
      throw run.err; // uses an attempt; the last one records the URL failed (workers/start-workers)
    case 'infra': {
      const reason = infraFailed(rt, run.err);
      // Our outage is not a failure of the URL: this run is not one of its attempts (the gate, not
      // the attempts, keeps the requests few meanwhile). Best effort: the database may be the outage.
      if (run.counted) await work.countRerun(-1).catch(() => undefined);
      return postpone(rt, job, token, new Error(reason), INFRA_RETRY_MS, 'warn', { waited: true });
    }
  }
}

/** Closes the gate after an infrastructure failure (logged when that closed it); returns the reason. */
export function infraFailed(rt: LifecycleDeps, err: unknown): string {
  const reason = err instanceof Error ? err.message : String(err);
  if (rt.infraGate.failed(Date.now(), reason)) log.warn('infrastructure failure: jobs of this process wait before fetching anything', { error: reason });
  return reason;
}

/** Postpones a job held at a shut InfraGate: it fetches nothing, and this run is not an attempt. */
export function postponeForGate(rt: LifecycleDeps, job: Job<{ waits?: number; infraRetries?: number }>, token: string | undefined): Promise<never> {
  const { waitMs, reason } = rt.infraGate.state(Date.now());
  return postpone(rt, job, token, new Error(`waiting for the infrastructure to recover (${reason})`), Math.max(waitMs, INFRA_RETRY_MS), 'debug', { waited: true });
}

/**
 * Whether this job ran before: a retry, a stall, a re-queue. A job's first run is not written
 * down (the hot path); any other run is counted in the URL's row first (`reruns`), so the bound
 * on requests holds whatever re-runs it, and across jobs. Runs held back (`waits`) do not count.
 */
export function isRerun(job: Job<{ waits?: number; requeued?: boolean }>): boolean {
  return (job.attemptsStarted || 1) - (job.data.waits ?? 0) > 1 || Boolean(job.data.requeued);
}

export function reopen(gate: InfraGate): void {
  if (gate.succeeded()) log.info('the infrastructure answers again: jobs proceed');
}

/** Counts one claimed URL finished and completes the session when it was the last. */
export async function finishUrl(rt: LifecycleDeps, sessionId: string, delta: StatsDelta): Promise<void> {
  if ((await rt.counters.finished(sessionId, delta)) <= 0) await rt.sessions.finishIfDrained(sessionId);
}

/**
 * Moves the job to delayed without using an attempt. `waited`: this run is not an attempt of the
 * URL (see TrackedJobData.waits); `slotAt`: the host slot reserved for the next run.
 */
async function postpone(
  rt: LifecycleDeps,
  job: Job<{ waits?: number; infraRetries?: number; slotAt?: number }>,
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
    log.debug('host busy, job delayed', { jobId: job.id, waitMs: delayMs });
  } else {
    data.infraRetries = (data.infraRetries ?? 0) + 1;
    if (data.infraRetries > rt.config.worker.infra_retries || !token) throw err;
    log[level]('infrastructure failure, job postponed', { jobId: job.id, attempt: data.infraRetries, error: message });
  }
  await job.updateData(data);
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}
