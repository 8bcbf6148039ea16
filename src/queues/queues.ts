import { JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CrawlJobData, DownloadJobData, QUEUE_NAMES, jobId } from './job-types';
import type { ClaimedUrl } from './frontier';

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

  /**
   * Enqueues URLs the frontier handed out: pages and stylesheets on `crawl`, images on
   * `download`, in bulk, with deterministic ids.
   */
  async enqueue(
    sessionId: string,
    claimed: ClaimedUrl[],
    context: { depth: number; referrer: string | null; via?: Map<string, string>; redirects?: number },
  ): Promise<void> {
    const crawlJobs = [];
    const downloadJobs = [];
    for (const c of claimed) {
      const opts = { jobId: jobId(c.kind, sessionId, c.key) };
      if (c.kind === 'i') {
        downloadJobs.push({
          name: 'image',
          data: { sessionId, url: c.url, pageUrl: context.referrer ?? c.url, via: context.via?.get(c.url) ?? 'img' },
          opts,
        });
      } else {
        const kind = c.kind === 'p' ? ('page' as const) : ('stylesheet' as const);
        crawlJobs.push({ name: kind, data: { sessionId, url: c.url, depth: context.depth, kind, referrer: context.referrer, ...(context.redirects ? { redirects: context.redirects } : {}) }, opts });
      }
    }
    await Promise.all([
      crawlJobs.length ? this.crawl.addBulk(crawlJobs) : undefined,
      downloadJobs.length ? this.download.addBulk(downloadJobs) : undefined,
    ]);
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
