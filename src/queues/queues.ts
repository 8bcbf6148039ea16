import type { Queue } from 'bullmq';
import { urlKey } from '../crawler/url-normalizer';
import type { PendingDocument, PendingImage } from '../db/frontier-repository';
import { CrawlJobData, DownloadJobData, DownloadQueueData, ImageTask, jobId } from './job-types';
import { QueueContext, openQueue } from './queue-registry';

/** A single-URL download job to add later: a batch's retry, or a URL waiting for its host. */
export interface FollowUp {
  data: DownloadJobData;
  delayMs: number;
}

const documentJobId = (sessionId: string, d: { kind: PendingDocument['kind']; url: string }) => jobId(d.kind === 'page' ? 'p' : 'c', sessionId, urlKey(d.url));
const imageJobId = (sessionId: string, i: { url: string }) => jobId('i', sessionId, urlKey(i.url));
/** A claimed image as a download job carries it (a start URL that is an image is its own page). */
const imageTask = (i: PendingImage): ImageTask => ({ url: i.url, pageUrl: i.pageUrl ?? i.url, via: i.via });

/** Which of `ids` BullMQ still holds to run (waiting, delayed, prioritized, active); finished ones are removed. */
async function liveJobs(queue: Queue, ids: string[]): Promise<Set<string>> {
  const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
  await Promise.all(ids.filter((_, i) => states[i] === 'failed' || states[i] === 'completed').map((id) => queue.remove(id)));
  return new Set(ids.filter((_, i) => !['failed', 'completed', 'unknown'].includes(states[i])));
}

export class CrawlQueues {
  readonly crawl: Queue<CrawlJobData>;
  readonly download: Queue<DownloadQueueData>;

  /** Image URLs per download job at most (worker.download_batch). */
  private readonly downloadBatch: number;

  constructor(ctx: QueueContext) {
    this.crawl = openQueue('crawl', ctx);
    this.download = openQueue('download', ctx);
    this.downloadBatch = ctx.config.worker.download_batch;
  }

  /** Enqueues claimed pages and stylesheets on `crawl`, in bulk, with deterministic ids. */
  async enqueueDocuments(sessionId: string, docs: PendingDocument[], flags: { requeued?: true } = {}): Promise<void> {
    if (docs.length === 0) return;
    await this.crawl.addBulk(
      docs.map((d) => ({
        name: d.kind,
        data: { sessionId, url: d.url, depth: d.depth, kind: d.kind, referrer: d.referrer, ...(d.redirects ? { redirects: d.redirects } : {}), ...flags },
        opts: { jobId: documentJobId(sessionId, d) },
      })),
    );
  }

  /**
   * Enqueues image URLs a page just claimed on `download`, `worker.download_batch` to a job. A
   * URL is claimed once, so it is in one batch only, and a batch's first URL names it.
   */
  async enqueueImages(sessionId: string, images: PendingImage[]): Promise<void> {
    if (images.length === 0) return;
    const size = this.downloadBatch;
    const jobs = [];
    for (let i = 0; i < images.length; i += size) {
      const chunk = images.slice(i, i + size).map(imageTask);
      jobs.push(
        chunk.length === 1
          ? { name: 'image', data: { sessionId, ...chunk[0] }, opts: { jobId: imageJobId(sessionId, chunk[0]) } }
          : { name: 'batch', data: { sessionId, images: chunk }, opts: { jobId: jobId('b', sessionId, urlKey(chunk[0].url)) } },
      );
    }
    await this.download.addBulk(jobs);
  }

  /** Enqueues image URLs one job each: re-queued ones (every run counted), a batch's follow-ups. */
  async enqueueSingleImages(sessionId: string, images: PendingImage[], flags: { requeued?: true } = {}): Promise<void> {
    await this.enqueueFollowUps(images.map((i) => ({ data: { sessionId, ...imageTask(i), ...flags }, delayMs: 0 })));
  }

  /**
   * Adds single-URL jobs, each after its delay. The id is the URL's: a batch run again after a
   * crash adds nothing twice, and a URL already waiting in a job of its own keeps that job.
   */
  async enqueueFollowUps(followUps: FollowUp[]): Promise<void> {
    if (followUps.length === 0) return;
    await this.download.addBulk(
      followUps.map(({ data, delayMs }) => ({ name: 'image', data, opts: { jobId: imageJobId(data.sessionId, data), ...(delayMs > 0 ? { delay: delayMs } : {}) } })),
    );
  }

  /**
   * Enqueues again pending URLs whose jobs were lost or gave up (the sweeper). A job BullMQ still
   * keeps as failed or completed would make the add a no-op, so it is removed first; a URL whose
   * job is still waiting, delayed or active keeps it and is left out (a slow queue is not a lost
   * one). Every run of a re-queued job counts against its URL's attempts (see job-lifecycle).
   * Returns how many URLs were enqueued again.
   */
  async requeue(sessionId: string, docs: PendingDocument[], images: PendingImage[]): Promise<number> {
    const [liveDocs, liveImages] = await Promise.all([
      liveJobs(this.crawl, docs.map((d) => documentJobId(sessionId, d))),
      liveJobs(this.download, images.map((i) => imageJobId(sessionId, i))),
    ]);
    const lostDocs = docs.filter((d) => !liveDocs.has(documentJobId(sessionId, d)));
    const lostImages = images.filter((i) => !liveImages.has(imageJobId(sessionId, i)));
    await Promise.all([this.enqueueDocuments(sessionId, lostDocs, { requeued: true }), this.enqueueSingleImages(sessionId, lostImages, { requeued: true })]);
    return lostDocs.length + lostImages.length;
  }

  async counts(): Promise<Record<string, Record<string, number>>> {
    const [crawl, download] = await Promise.all([
      this.crawl.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized'),
      this.download.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized'),
    ]);
    return { crawl, download };
  }

  async close(): Promise<void> {
    await Promise.all([this.crawl.close(), this.download.close()]);
  }
}
