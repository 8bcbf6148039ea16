import { JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { urlKey } from '../crawler/url-normalizer';
import type { PendingDocument, PendingImage } from '../db/frontier-repository';
import { CrawlJobData, DownloadJobData, QUEUE_NAMES, jobId } from './job-types';

export interface QueueSettings {
  prefix: string;
  attempts: number;
}

/** The custom backoff type every job uses (see workers/backoff.ts). */
export const BACKOFF_TYPE = 'crawler';

export class CrawlQueues {
  readonly crawl: Queue<CrawlJobData>;
  readonly download: Queue<DownloadJobData>;

  constructor(connection: Redis, settings: QueueSettings) {
    const defaultJobOptions: JobsOptions = {
      attempts: settings.attempts,
      backoff: { type: BACKOFF_TYPE },
      // Keep a window of history for Bull Board; outcomes live in PostgreSQL.
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 5000 },
    };
    const opts = { connection, prefix: settings.prefix, defaultJobOptions };
    this.crawl = new Queue<CrawlJobData>(QUEUE_NAMES.crawl, opts);
    this.download = new Queue<DownloadJobData>(QUEUE_NAMES.download, opts);
  }

  /** Enqueues claimed pages and stylesheets on `crawl`, in bulk, with deterministic ids. */
  async enqueueDocuments(sessionId: string, docs: PendingDocument[]): Promise<void> {
    if (docs.length === 0) return;
    await this.crawl.addBulk(
      docs.map((d) => ({
        name: d.kind,
        data: { sessionId, url: d.url, depth: d.depth, kind: d.kind, referrer: d.referrer, ...(d.redirects ? { redirects: d.redirects } : {}) },
        opts: { jobId: jobId(d.kind === 'page' ? 'p' : 'c', sessionId, urlKey(d.url)) },
      })),
    );
  }

  /** Enqueues claimed image URLs on `download`. */
  async enqueueImages(sessionId: string, images: PendingImage[]): Promise<void> {
    if (images.length === 0) return;
    await this.download.addBulk(
      images.map((i) => ({
        name: 'image',
        data: { sessionId, url: i.url, pageUrl: i.pageUrl ?? i.url, via: i.via },
        opts: { jobId: jobId('i', sessionId, urlKey(i.url)) },
      })),
    );
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
