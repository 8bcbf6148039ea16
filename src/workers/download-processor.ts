import type { Job } from 'bullmq';
import { IMAGE_ACCEPT } from '../http/http-client';
import { getLogger } from '../logger';
import { DownloadBatchData, DownloadJobData, DownloadQueueData, ImageTask, isBatch } from '../queues/job-types';
import type { FollowUp } from '../queues/queues';
import type { Runtime } from '../runtime';
import { retryDelayMs } from './backoff';
import { IngestDeps, ingestImage, recordImageOutcome, recordRevalidated } from './image-ingest';
import { INFRA_RETRY_MS, LifecycleDeps, TrackedWork, UrlRun, finishUrl, infraFailed, isRerun, postponeForGate, reopen, runTrackedJob, runUrl } from './job-lifecycle';
import { FetchDeps, politeFetch } from './polite-fetch';
import { Slots } from './slots';

/** What this module uses of the runtime (a handler takes only its few dependencies). */
export type DownloadDeps = Pick<Runtime, 'config' | 'frontier' | 'images' | 'infraGate' | 'queues' | 'store'> & LifecycleDeps & IngestDeps & FetchDeps;

const log = getLogger('jobs');

/**
 * The `download` queue's consumer. A job carries one image URL or a batch of them (the new
 * images of a page); either way each URL is fetched (as a browser would ask for an image),
 * verified, stored once and recorded on its own, at most `concurrency` at once in this process.
 */
export function createDownloadProcessor(rt: DownloadDeps, concurrency: number) {
  const slots = new Slots(concurrency);
  return async (job: Job<DownloadQueueData>, token?: string): Promise<void> => {
    if (isBatch(job.data)) return runBatch(rt, job as Job<DownloadBatchData>, token, slots);
    await runTrackedJob(rt, job as Job<DownloadJobData>, token, imageWork(rt, job.data, slots));
  };
}

/** What the job lifecycle does with one image URL. */
function imageWork(rt: DownloadDeps, origin: ImageTask & { sessionId: string }, slots: Slots): TrackedWork {
  return {
    run: (options, ctx) =>
      slots.use(async () => {
        // A re-crawl asks whether the copy an earlier session stored (and this host holds) changed.
        const earlier = options.since ? await rt.images.storedIn(options.since, origin.url) : undefined;
        const usable = earlier?.file_path && (earlier.etag || earlier.last_modified) && (await rt.store.exists(earlier.file_path)) ? earlier : undefined;
        const conditional = usable ? { etag: usable.etag ?? null, lastModified: usable.last_modified ?? null } : undefined;
        const res = await politeFetch(rt, options, origin.url, { kind: 'image', accept: IMAGE_ACCEPT, maxBytes: rt.config.crawler.max_image_bytes, conditional }, ctx.slotAt);
        return res.notModified && usable ? recordRevalidated(rt, origin, usable) : ingestImage(rt, origin, res);
      }),
    countRerun: (by) => rt.frontier.countRerun('images', origin.sessionId, origin.url, by),
    recordFailure: (err) => recordImageOutcome(rt, origin, 'failed', err.httpStatus, err.message),
    skip: async () => {
      await recordImageOutcome(rt, origin, 'skipped', 0, 'session stopped');
    },
  };
}

/**
 * A batch: every URL runs as a job of its own would (runUrl), side by side. A URL that must run
 * again — a retryable failure (after its backoff), a host that cannot take it yet, an outage of
 * ours — leaves the batch as a single-URL job with the URL's own id, so the others are never
 * fetched twice and a batch run again after a crash adds nothing twice. The job completes once
 * every URL is finished or handed on; a worker killed before that leaves the batch to be run
 * again, and URLs already recorded are then skipped (their rows are no longer pending).
 */
async function runBatch(rt: DownloadDeps, job: Job<DownloadBatchData>, token: string | undefined, slots: Slots): Promise<void> {
  const { sessionId, images } = job.data;
  const attempts = job.opts.attempts ?? 1;
  const rerun = isRerun(job);
  const gate = rt.infraGate;
  const followUps: FollowUp[] = [];
  let held = 0;
  await Promise.all(
    images.map(async (task) => {
      if (!gate.tryPass(Date.now())) {
        held++;
        followUps.push({ data: { sessionId, ...task, ...(rerun ? { requeued: true } : {}) }, delayMs: Math.max(gate.state(Date.now()).waitMs, INFRA_RETRY_MS) });
        return;
      }
      const work = imageWork(rt, { sessionId, ...task }, slots);
      const run = await runUrl(rt, sessionId, work, attempts, rerun, {});
      if (run.kind !== 'infra') reopen(gate);
      const followUp = await nextStep(rt, sessionId, task, work, run);
      if (followUp) followUps.push(followUp);
    }),
  );
  if (held === images.length && images.length > 0) {
    // The gate was shut for the whole batch: it waits as one job rather than as many.
    return postponeForGate(rt, job, token);
  }
  // If this fails (Redis is away), the batch fails and runs again: what it recorded is skipped then.
  await rt.queues.enqueueFollowUps(followUps);
}

/** Finishes a URL of a batch, or says which single-URL job runs it next. */
async function nextStep(rt: DownloadDeps, sessionId: string, task: ImageTask, work: TrackedWork, run: UrlRun): Promise<FollowUp | null> {
  const backoffMs = rt.config.worker.backoff_ms;
  const single: DownloadJobData = { sessionId, ...task };
  switch (run.kind) {
    case 'finished':
      await finishUrl(rt, sessionId, run.delta);
      return null;
    case 'dropped':
      return null;
    case 'retry':
      // `requeued`: its next run is counted in its row as the attempt it is.
      return { data: { ...single, requeued: true }, delayMs: retryDelayMs(run.tries, backoffMs, run.err) };
    case 'bug':
      log.error('internal error in a job', { sessionId, url: task.url, error: run.err.stack });
      return { data: { ...single, requeued: true }, delayMs: retryDelayMs(run.tries, backoffMs, run.err) };
    case 'busy':
      // Not an attempt: a run counted in the row is taken back, and counted again by the next one.
      if (run.counted) await work.countRerun(-1).catch(() => undefined);
      return { data: { ...single, slotAt: run.err.slotAt, ...(run.counted ? { requeued: true } : {}) }, delayMs: run.err.waitMs };
    case 'infra':
      infraFailed(rt, run.err);
      if (run.counted) await work.countRerun(-1).catch(() => undefined);
      return { data: { ...single, infraRetries: 1, ...(run.counted ? { requeued: true } : {}) }, delayMs: INFRA_RETRY_MS };
  }
}
