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
} as const;


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
}

export interface DownloadJobData {
  sessionId: string;
  url: string;
  /** Page (or stylesheet) the image was found on. */
  pageUrl: string;
  via: string;
}

export function jobId(kind: UrlKind, sessionId: string, key: string): string {
  return `${kind}-${sessionId}-${key}`;
}
