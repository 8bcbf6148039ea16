/**
 * The queue registry: queue names and the typed payload each one carries. One job per page (or
 * stylesheet) on `crawl`, one job per image URL on `download`. Job ids are deterministic
 * (`<kind>-<session>-<urlKey>`), so adding the same URL twice is a no-op.
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
} as const;

/** Copies of files from host `from` to host `to`: one queue per pair, consumed on `from`. */
export function pushQueueName(from: string, to: string): string {
  return `sync.${from}.${to}`;
}


/** Job id prefixes: a page, an external stylesheet, an image. */
export type UrlKind = 'p' | 'c' | 'i';

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

export interface DownloadJobData {
  sessionId: string;
  url: string;
  /** Page (or stylesheet) the image was found on. */
  pageUrl: string;
  via: string;
  /** Enqueued again by the sweeper (see TrackedJobData). */
  requeued?: boolean;
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
