/**
 * Which pages a session crawls. Scope limits pages only: images are downloaded from whatever
 * host serves them. Pure, built once per session from its options.
 */
import { UrlPattern, compileUrlPattern } from './url-pattern';

export interface ScopeOptions {
  startUrls: string[];
  /** Regular expressions (RE2 syntax, see url-pattern.ts); when any is given a page URL must match one. */
  include: string[];
  /** Regular expressions; a page URL matching any is skipped. */
  exclude: string[];
  /** Pages on other hosts are followed too (still bounded by depth and page budget). Default false. */
  followExternal: boolean;
  maxDepth: number;
  maxUrlLength: number;
}

export type ScopeVerdict = { ok: true } | { ok: false; reason: string };

const MAX_PATH_SEGMENTS = 30;
const MAX_SAME_SEGMENT = 3;

export class CrawlScope {
  private readonly hosts: Set<string>;
  private readonly include: UrlPattern[];
  private readonly exclude: UrlPattern[];

  constructor(private readonly opts: ScopeOptions) {
    this.hosts = new Set(opts.startUrls.map((u) => new URL(u).host));
    this.include = opts.include.map(compileUrlPattern);
    this.exclude = opts.exclude.map(compileUrlPattern);
  }

  /** Should a page at `url`, found at link depth `depth`, be crawled? */
  checkPage(url: string, depth: number): ScopeVerdict {
    if (depth > this.opts.maxDepth) return { ok: false, reason: `deeper than max depth ${this.opts.maxDepth}` };
    if (url.length > this.opts.maxUrlLength) return { ok: false, reason: 'URL too long' };
    const parsed = new URL(url);
    if (!this.opts.followExternal && !this.hosts.has(parsed.host)) return { ok: false, reason: `off-site host ${parsed.host}` };
    if (this.include.length > 0 && !this.include.some((r) => r.test(url))) return { ok: false, reason: 'matches no include pattern' };
    if (this.exclude.some((r) => r.test(url))) return { ok: false, reason: 'matches an exclude pattern' };
    const trap = spiderTrapReason(parsed);
    return trap ? { ok: false, reason: trap } : { ok: true };
  }
}

/** Paths that only a generator makes: /a/b/a/b/a/b/…, hundreds of segments. */
export function spiderTrapReason(url: URL): string | null {
  const segments = url.pathname.split('/').filter(Boolean);
  if (segments.length > MAX_PATH_SEGMENTS) return `path deeper than ${MAX_PATH_SEGMENTS} segments (spider trap)`;
  const counts = new Map<string, number>();
  for (const s of segments) {
    const n = (counts.get(s) ?? 0) + 1;
    if (n > MAX_SAME_SEGMENT) return `path segment "${s}" repeats ${n} times (spider trap)`;
    counts.set(s, n);
  }
  return null;
}
