import robotsParser from 'robots-parser';

/**
 * robots.txt rules of one origin (RFC 9309, through robots-parser). Pure: the text comes from
 * the robots cache. A missing robots.txt (4xx) allows everything.
 */
export class RobotsRules {
  private readonly robot: ReturnType<typeof robotsParser> | null;

  /** `text` null means "no robots.txt": everything is allowed. */
  constructor(origin: string, text: string | null, private readonly userAgent: string) {
    this.robot = text === null ? null : robotsParser(`${origin}/robots.txt`, text);
  }

  isAllowed(url: string): boolean {
    if (!this.robot) return true;
    return this.robot.isAllowed(url, this.userAgent) !== false;
  }

  /** The `Sitemap:` lines (global to the file, not per user agent), http(s) only. */
  sitemaps(): string[] {
    return (this.robot?.getSitemaps() ?? []).filter((u) => /^https?:\/\//i.test(u));
  }

  /** Crawl-delay in milliseconds for our user agent, 0 when none. */
  crawlDelayMs(): number {
    const seconds = this.robot?.getCrawlDelay(this.userAgent);
    return seconds && Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 60) * 1000 : 0;
  }
}
