import type { Job } from 'bullmq';
import { IMAGE_ACCEPT } from '../http/http-client';
import type { DownloadJobData } from '../queues/job-types';
import type { Runtime } from '../runtime';
import { ingestImage, recordImageOutcome } from './image-ingest';
import { runTrackedJob } from './job-lifecycle';
import { politeFetch } from './polite-fetch';

/** One image URL: fetch (as a browser would ask for an image), verify, store once, record. */
export function createDownloadProcessor(rt: Runtime) {
  return async (job: Job<DownloadJobData>, token?: string): Promise<void> => {
    const origin = { ...job.data };
    await runTrackedJob(rt, job, token, {
      run: async (options, ctx) => {
        const res = await politeFetch(rt, options, job.data.url, { kind: 'image', accept: IMAGE_ACCEPT, maxBytes: rt.config.crawler.max_image_bytes }, ctx.slotAt);
        return ingestImage(rt, origin, res);
      },
      countRerun: (by) => rt.frontier.countRerun('images', job.data.sessionId, job.data.url, by),
      recordFailure: (err) => recordImageOutcome(rt, origin, 'failed', err.httpStatus, err.message),
      skip: async () => {
        await recordImageOutcome(rt, origin, 'skipped', 0, 'session stopped');
      },
    });
  };
}
