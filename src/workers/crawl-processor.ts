import type { Job } from 'bullmq';
import type { SessionOptions } from '../crawler/crawl-options';
import { CrawlScope } from '../crawler/crawl-scope';
import { scanCss } from '../crawler/css-urls';
import { extractPage } from '../crawler/page-extractor';
import { resolveUrl } from '../crawler/url-normalizer';
import type { DocumentClaim, ImageClaim } from '../db/frontier-repository';
import type { PageStatus } from '../db/page-repository';
import { CrawlerError } from '../errors';
import { PAGE_ACCEPT } from '../http/http-client';
import type { FetchResult } from '../http/http-client';
import type { CrawlJobData } from '../queues/job-types';
import { documentBudget } from '../sessions/session-service';
import type { StatsDelta } from '../queues/session-counters';
import type { Runtime } from '../runtime';
import { IngestDeps, ingestImage, recordImageOutcome } from './image-ingest';
import { LifecycleDeps, RunContext, finishUrl, runTrackedJob } from './job-lifecycle';
import { PageToolDeps, pageTools } from './plugin-tools';
import { politeFetch } from './polite-fetch';

/** What this module uses of the runtime (a handler takes only its few dependencies). */
export type CrawlDeps = Pick<Runtime, 'config' | 'counters' | 'frontier' | 'pages' | 'plugins' | 'queues'> & LifecycleDeps & IngestDeps & PageToolDeps;

const CSS_ACCEPT = 'text/css,*/*;q=0.1';
const HTML_TYPES = /^(text\/html|application\/xhtml\+xml)\b/i;

/**
 * One page (or external stylesheet): fetch it, find its images and links, claim the new ones,
 * enqueue them in bulk, and record the outcome.
 */
export function createCrawlProcessor(rt: CrawlDeps) {
  const scopes = new Map<string, CrawlScope>();
  const scopeFor = (sessionId: string, options: SessionOptions) => {
    let scope = scopes.get(sessionId);
    if (!scope) {
      if (scopes.size > 100) scopes.clear(); // old sessions; rebuilt on demand
      scope = new CrawlScope(options);
      scopes.set(sessionId, scope);
    }
    return scope;
  };

  return async (job: Job<CrawlJobData>, token?: string): Promise<void> => {
    const data = job.data;
    await runTrackedJob(rt, job, token, {
      run: (options, ctx) => (data.kind === 'page' ? crawlPage(rt, data, options, scopeFor(data.sessionId, options), ctx) : crawlStylesheet(rt, data, options, ctx)),
      countRerun: (by) => rt.frontier.countRerun('pages', data.sessionId, data.url, by),
      recordFailure: (err) => recordCrawlFailure(rt, data, err.httpStatus, err.message),
      skip: () => recordPage(rt, data, { status: 'skipped', http_status: 0, error: 'session stopped' }),
    });
  };
}

async function crawlPage(rt: CrawlDeps, data: CrawlJobData, options: SessionOptions, scope: CrawlScope, ctx: RunContext): Promise<StatsDelta> {
  const res = await politeFetch(rt, options, data.url, { kind: 'page', accept: PAGE_ACCEPT, maxBytes: rt.config.crawler.max_page_bytes, followRedirects: false }, ctx.slotAt);
  if (res.location) return followRedirect(rt, data, options, scope, res.status, res.location);

  const type = res.contentType.split(';')[0].trim().toLowerCase();
  if (type.startsWith('image/')) return linkedImage(rt, data, res);
  if (HTML_TYPES.test(type) || (type === '' && /^\s*</.test(res.body.subarray(0, 512).toString('latin1')))) {
    return followPage(rt, data, options, scope, res);
  }
  await recordPage(rt, data, { status: 'skipped', http_status: res.status, error: `not HTML (${type || 'no content type'})` });
  return {};
}

/**
 * A page redirect becomes a new page job for its target (same depth), claimed like any link:
 * a target that is also linked directly is fetched once, and a redirect loop ends at the
 * first URL already claimed.
 */
async function followRedirect(
  rt: CrawlDeps,
  data: CrawlJobData,
  options: SessionOptions,
  scope: CrawlScope,
  status: number,
  location: string,
): Promise<StatsDelta> {
  const hops = (data.redirects ?? 0) + 1;
  const max = rt.config.crawler.max_redirects;
  const verdict = hops > max ? { ok: false as const, reason: `more than ${max} redirects` } : scope.checkPage(location, data.depth);
  if (verdict.ok) {
    await claimAndEnqueue(rt, data.sessionId, data.url, options, [], [{ kind: 'page', url: location, depth: data.depth, redirects: hops }]);
  }
  await recordPage(rt, data, { status: 'redirected', http_status: status, final_url: location, error: verdict.ok ? undefined : `redirect not followed: ${verdict.reason}` });
  return { pages_crawled: 1 };
}

async function followPage(rt: CrawlDeps, data: CrawlJobData, options: SessionOptions, scope: CrawlScope, res: FetchResult): Promise<StatsDelta> {
  const page = extractPage(decodeBody(res), res.finalUrl, {
    includeIcons: options.includeIcons,
    includeMetaImages: options.includeMetaImages,
    maxUrlLength: options.maxUrlLength,
    maxLinksPerPage: rt.config.crawler.max_links_per_page,
    maxSrcsetCandidates: rt.config.crawler.max_srcset_candidates,
  });
  const depth = data.depth + 1;
  const documents: DocumentClaim[] = [];
  // A page's stylesheets load with it: they take its depth, and each @import one more.
  if (options.fetchStylesheets) for (const url of page.stylesheets) documents.push({ kind: 'stylesheet', url, depth: data.depth });
  const images: ImageClaim[] = [...page.images];
  const links = [...page.links];
  if (rt.plugins.has('processPage')) {
    const found = await rt.plugins.processPage(
      { sessionId: data.sessionId, url: res.finalUrl, status: res.status, contentType: res.contentType, body: res.body, depth: data.depth, render: options.render === true },
      pageTools(rt, data.sessionId, options),
    );
    const resolve = (raw: string) => {
      const url = resolveUrl(raw, res.finalUrl);
      return url && url.length <= options.maxUrlLength ? url : null;
    };
    for (const raw of found.pages) {
      const url = resolve(raw);
      if (url) links.push(url);
    }
    for (const image of found.images) {
      const url = resolve(image.url);
      const pageUrl = image.pageUrl === undefined ? undefined : resolve(image.pageUrl);
      if (url) images.push({ url, via: image.via, ...(pageUrl ? { pageUrl } : {}) });
    }
  }
  for (const url of links) if (scope.checkPage(url, depth).ok) documents.push({ kind: 'page', url, depth });
  await claimAndEnqueue(rt, data.sessionId, res.finalUrl, options, images, documents);
  await recordPage(rt, data, {
    status: 'crawled',
    http_status: res.status,
    images_found: page.images.length,
    links_found: page.links.length,
    links_dropped: page.dropped.links,
    srcset_dropped: page.dropped.srcsetCandidates,
  });
  return { pages_crawled: 1 };
}

/** A followed link that serves an image (`<a href="/photo?id=3">`): store it as an image. */
async function linkedImage(rt: CrawlDeps, data: CrawlJobData, res: FetchResult): Promise<StatsDelta> {
  const origin = { sessionId: data.sessionId, url: data.url, pageUrl: data.referrer, via: 'link' };
  const [claimed] = await rt.frontier.claimImages(data.sessionId, data.referrer, [{ url: data.url, via: 'link' }]);
  if (claimed) {
    await rt.counters.claimed(data.sessionId, 1, { images_found: 1 });
    let delta: StatsDelta;
    try {
      delta = await ingestImage(rt, origin, res);
    } catch (err) {
      if (!(err instanceof CrawlerError)) throw err;
      delta = await recordImageOutcome(rt, origin, 'failed', err.httpStatus, err.message);
    }
    await finishUrl(rt, data.sessionId, delta);
  }
  // When not claimed, the URL is also an <img> somewhere: its download job stores it.
  await recordPage(rt, data, { status: 'skipped', http_status: res.status, error: 'link to an image' });
  return {};
}

async function crawlStylesheet(rt: CrawlDeps, data: CrawlJobData, options: SessionOptions, ctx: RunContext): Promise<StatsDelta> {
  const res = await politeFetch(rt, options, data.url, { kind: 'stylesheet', accept: CSS_ACCEPT, maxBytes: rt.config.crawler.max_page_bytes }, ctx.slotAt);
  const css = res.body.toString('utf8');
  const images: ImageClaim[] = [];
  const refs = scanCss(css); // images and @import targets in one pass
  for (const raw of refs.images) {
    const url = resolveUrl(raw, res.finalUrl);
    if (url && url.length <= options.maxUrlLength) images.push({ url, via: 'stylesheet' });
  }
  const imports: DocumentClaim[] = [];
  for (const raw of refs.imports) {
    const url = resolveUrl(raw, res.finalUrl);
    if (url && url.length <= options.maxUrlLength) imports.push({ kind: 'stylesheet', url, depth: data.depth + 1 });
  }
  const maxDepth = options.maxDepth + rt.config.crawler.max_import_depth;
  if (imports.length > 0 && data.depth + 1 > maxDepth) {
    // An @import chain this deep is a trap (or a loop of fresh URLs): cut, and the cut recorded.
    await rt.frontier.recordSkipped(data.sessionId, res.finalUrl, imports, `@import nested deeper than ${maxDepth}`);
    imports.length = 0;
  }
  await claimAndEnqueue(rt, data.sessionId, res.finalUrl, options, images, imports);
  await recordPage(rt, data, { status: 'crawled', http_status: res.status, images_found: images.length });
  return {};
}

/** Claims what a page or stylesheet references and enqueues what is new to the session. */
async function claimAndEnqueue(
  rt: CrawlDeps,
  sessionId: string,
  referrer: string,
  options: SessionOptions,
  images: ImageClaim[],
  documents: DocumentClaim[],
): Promise<void> {
  const [newImages, newDocuments] = await Promise.all([
    rt.frontier.claimImages(sessionId, referrer, images),
    rt.frontier.claimDocuments(sessionId, referrer, documents, documentBudget(options)),
  ]);
  // Counted before the parent finishes, so the session cannot look complete in between.
  await rt.counters.claimed(sessionId, newImages.length + newDocuments.length, { images_found: newImages.length });
  await Promise.all([
    rt.queues.enqueueImages(sessionId, newImages.map((i) => ({ ...i, pageUrl: i.pageUrl ?? referrer }))),
    rt.queues.enqueueDocuments(sessionId, newDocuments.map((d) => ({ ...d, referrer }))),
  ]);
}

/** Records a page (or stylesheet) that could not be crawled, with the reason. */
export async function recordCrawlFailure(rt: CrawlDeps, data: CrawlJobData, httpStatus: number, error: string): Promise<StatsDelta> {
  await recordPage(rt, data, { status: 'failed', http_status: httpStatus, error: error.slice(0, 2000) });
  return { pages_failed: data.kind === 'page' ? 1 : 0, errors: 1 };
}

function recordPage(
  rt: CrawlDeps,
  data: CrawlJobData,
  outcome: {
    status: PageStatus;
    http_status: number;
    final_url?: string;
    images_found?: number;
    links_found?: number;
    links_dropped?: number;
    srcset_dropped?: number;
    error?: string;
  },
): Promise<void> {
  return rt.pages.record({
    session_id: data.sessionId,
    kind: data.kind,
    url: data.url,
    depth: data.depth,
    final_url: outcome.final_url ?? null,
    status: outcome.status,
    http_status: outcome.http_status,
    images_found: outcome.images_found ?? 0,
    links_found: outcome.links_found ?? 0,
    links_dropped: outcome.links_dropped ?? 0,
    srcset_dropped: outcome.srcset_dropped ?? 0,
    error: outcome.error ?? null,
  });
}

/** Pages are decoded as UTF-8 unless the server names another charset Node knows. */
function decodeBody(res: FetchResult): string {
  const m = /charset=["']?([\w-]+)/i.exec(res.contentType);
  const charset = m?.[1].toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    try {
      return new TextDecoder(charset).decode(res.body);
    } catch {
      // unknown label: fall through to UTF-8
    }
  }
  return res.body.toString('utf8');
}
