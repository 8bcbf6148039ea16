/**
 * The queue registry: queue names and the typed payload each one carries. One job per page (or
 * stylesheet) on `crawl`; on `download`, one job for the new images of a page (up to
 * `worker.download_batch` URLs), and one job per image URL for what a batch leaves to retry.
 * Job ids are deterministic (`<kind>-<session>-<urlKey>`), so adding the same URL twice is a no-op.
 */

export const QUEUE_NAMES = {
  crawl: 'crawl',
  download: 'download',
  /** The repeatable database health check (HA). */
  health: 'health',
  /** Full file syncs and rescues of rows an old primary kept: any host may run them. */
  sync: 'sync',
  /** Consistency checks of database nodes and image stores. */
  check: 'consistency-check',
  /** Database and file backups and their verification, consumed by the `backup` process only. */
  backup: 'backup',
} as const;

/** Copies of files from host `from` to host `to`: one queue per pair, consumed on `from`. */
export function pushQueueName(from: string, to: string): string {
  return `sync.${from}.${to}`;
}


/** Job id prefixes: a page, an external stylesheet, an image, a batch of images (keyed by its first URL). */
export type UrlKind = 'p' | 'c' | 'i' | 'b';

export interface CrawlJobData {
  sessionId: string;
  url: string;
  depth: number;
  kind: 'page' | 'stylesheet';
  /** Page that linked here; null for start URLs. */
  referrer: string | null;
  /** Redirects followed to reach this URL (bounded by crawler.max_redirects). */
  redirects?: number;
  /** Enqueued again by the sweeper (see TrackedJobData). */
  requeued?: boolean;
}

/** One image URL to download, and where it was found. */
export interface ImageTask {
  url: string;
  /** Page (or stylesheet) the image was found on. */
  pageUrl: string;
  via: string;
}

/** One image URL: re-queued by the sweeper, or left by a batch to retry or wait for its host. */
export interface DownloadJobData extends ImageTask {
  sessionId: string;
  /** Every run counts against the URL's attempts in its row (see TrackedJobData). */
  requeued?: boolean;
  /** See TrackedJobData. */
  slotAt?: number;
  infraRetries?: number;
}

/**
 * The image URLs a page added to its session, fetched by one job: each URL is still claimed,
 * run, recorded and counted on its own (workers/download-processor.ts); one that must be tried again
 * leaves the batch as its own DownloadJobData.
 */
export interface DownloadBatchData {
  sessionId: string;
  images: ImageTask[];
  /** See TrackedJobData: runs held back at the InfraGate, and infrastructure postponements. */
  waits?: number;
  infraRetries?: number;
}

export type DownloadQueueData = DownloadJobData | DownloadBatchData;

export function isBatch(data: object): data is DownloadBatchData {
  return Array.isArray((data as DownloadBatchData).images);
}

export function jobId(kind: UrlKind, sessionId: string, key: string): string {
  return `${kind}-${sessionId}-${key}`;
}

/** Files (`<sha256>.<ext>`) to copy to the peer a push queue belongs to. */
export interface PushFilesJobData {
  files: string[];
}

export type SyncJobData =
  /** Every host gets every file some row references (differential: only what is missing moves). */
  | { kind: 'full-sync'; reason: string }
  /** Rows only an old primary holds are copied into the current primary (see consistency/rescue.ts). */
  | { kind: 'rescue'; node: string; reason: string };

export type CheckTrigger = 'schedule' | 'api' | 'cli' | 'failover' | 'rejoin';

export interface CheckJobData {
  trigger: CheckTrigger;
  /** Restore missing or corrupt files from peers. Default true. */
  repair?: boolean;
}

/** A backup to take (or the repositories to verify), by schedule or on request. */
export interface BackupJobData {
  kind: 'full' | 'diff' | 'incr' | 'verify';
  trigger: 'schedule' | 'cli' | 'api';
}
