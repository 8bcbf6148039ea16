import type { Job } from 'bullmq';
import type { SessionOptions } from '../crawler/crawl-options';
import { CrawlScope } from '../crawler/crawl-scope';
import { extractCssImports, extractCssUrls } from '../crawler/css-urls';
import { extractPage } from '../crawler/page-extractor';
import { resolveUrl } from '../crawler/url-normalizer';
import { CrawlerError } from '../errors';
import { PAGE_ACCEPT } from '../http/http-client';
import type { FetchResult } from '../http/http-client';
import type { PageStatus } from '../db/page-repository';
import type { ClaimCandidate, StatsDelta } from '../queues/frontier';
import { CrawlJobData, crawlKind } from '../queues/job-types';
import type { Runtime } from '../runtime';
import { ingestImage, recordImageFailure } from './image-ingest';
import { runTrackedJob } from './job-lifecycle';
import { politeFetch } from './polite-fetch';

const CSS_ACCEPT = 'text/css,*/*;q=0.1';
const HTML_TYPES = /^(text\/html|application\/xhtml\+xml)\b/i;

/**
 * One page (or external stylesheet): fetch it, find its images and links, claim the new ones
 * in the session frontier, enqueue them in bulk, and record the page's outcome.
 */
export function createCrawlProcessor(rt: Runtime) {
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
    await runTrackedJob(rt, job, token, crawlKind(data), {
      run: (options) =>
        data.kind === 'page' ? crawlPage(rt, job, options, scopeFor(data.sessionId, options)) : crawlStylesheet(rt, job, options),
      recordFailure: (err) => recordCrawlFailure(rt, data, err.httpStatus, err.message),
    });
  };
}

async function crawlPage(rt: Runtime, job: Job<CrawlJobData>, options: SessionOptions, scope: CrawlScope): Promise<StatsDelta> {
  const data = job.data;
  const owner = String(job.id);
  const res = await politeFetch(rt, options, data.url, {
    accept: PAGE_ACCEPT,
    maxBytes: rt.config.crawler.max_page_bytes,
    followRedirects: false,
  });
  if (res.location) return followRedirect(rt, owner, data, options, scope, res.status, res.location);

  const type = res.contentType.split(';')[0].trim().toLowerCase();
  if (type.startsWith('image/')) return linkedImage(rt, owner, data, res);
  if (HTML_TYPES.test(type) || (type === '' && /^\s*</.test(res.body.subarray(0, 512).toString('latin1')))) {
    return followPage(rt, owner, data, options, scope, res);
  }
  await recordPage(rt, data, { status: 'skipped', http_status: res.status, error: `not HTML (${type || 'no content type'})` });
  return { pages_crawled: 1 };
}

/**
 * A page redirect becomes a new page job for its target (same depth), claimed like any link:
 * a target that is also linked directly is fetched once, and a redirect loop ends at the
 * first URL already claimed.
 */
async function followRedirect(
  rt: Runtime,
  owner: string,
  data: CrawlJobData,
  options: SessionOptions,
  scope: CrawlScope,
  status: number,
  location: string,
): Promise<StatsDelta> {
  const hops = (data.redirects ?? 0) + 1;
  const verdict = hops > rt.config.crawler.max_redirects ? { ok: false as const, reason: `more than ${rt.config.crawler.max_redirects} redirects` } : scope.checkPage(location, data.depth);
  if (verdict.ok) {
    const claimed = await rt.frontier.claim(data.sessionId, owner, [{ kind: 'p', url: location }], options.maxPages);
    await rt.queues.enqueue(data.sessionId, claimed, { depth: data.depth, referrer: data.url, redirects: hops });
  }
  await recordPage(rt, data, { status: 'redirected', http_status: status, final_url: location, error: verdict.ok ? undefined : `redirect not followed: ${verdict.reason}` });
  return { pages_crawled: 1 };
}

async function followPage(
  rt: Runtime,
  owner: string,
  data: CrawlJobData,
  options: SessionOptions,
  scope: CrawlScope,
  res: FetchResult,
): Promise<StatsDelta> {
  const page = extractPage(decodeBody(res), res.finalUrl, {
    includeIcons: options.includeIcons,
    includeMetaImages: options.includeMetaImages,
    maxUrlLength: options.maxUrlLength,
  });
  const via = new Map(page.images.map((i) => [i.url, i.via]));
  const candidates: ClaimCandidate[] = page.images.map((i) => ({ kind: 'i', url: i.url }));
  if (options.fetchStylesheets) for (const url of page.stylesheets) candidates.push({ kind: 'c', url });
  for (const url of page.links) if (scope.checkPage(url, data.depth + 1).ok) candidates.push({ kind: 'p', url });

  const claimed = await rt.frontier.claim(data.sessionId, owner, candidates, options.maxPages);
  await rt.queues.enqueue(data.sessionId, claimed, { depth: data.depth + 1, referrer: res.finalUrl, via });
  await recordPage(rt, data, {
    status: 'crawled',
    http_status: res.status,
    images_found: page.images.length,
    links_found: page.links.length,
  });
  return { pages_crawled: 1, images_found: claimed.filter((c) => c.kind === 'i').length };
}

/** A followed link that serves an image (a gallery's <a href="big.jpg">): store it as an image. */
async function linkedImage(rt: Runtime, owner: string, data: CrawlJobData, res: FetchResult): Promise<StatsDelta> {
  const [claimed] = await rt.frontier.claim(data.sessionId, owner, [{ kind: 'i', url: data.url }]);
  await recordPage(rt, data, { status: 'skipped', http_status: res.status, error: 'link to an image' });
  if (!claimed) return {}; // also referenced by an <img>: its download job stores it
  const origin = { sessionId: data.sessionId, url: data.url, pageUrl: data.referrer, via: 'link' };
  let delta: StatsDelta;
  try {
    delta = await ingestImage(rt, origin, res);
  } catch (err) {
    if (!(err instanceof CrawlerError)) throw err;
    delta = await recordImageFailure(rt, origin, err.httpStatus, err.message);
  }
  await rt.frontier.finish(data.sessionId, 'i', claimed.key, {});
  return { ...delta, images_found: 1 };
}

async function crawlStylesheet(rt: Runtime, job: Job<CrawlJobData>, options: SessionOptions): Promise<StatsDelta> {
  const data = job.data;
  const res = await politeFetch(rt, options, data.url, { accept: CSS_ACCEPT, maxBytes: rt.config.crawler.max_page_bytes });
  const css = res.body.toString('utf8');
  const resolve = (raw: string) => resolveUrl(raw, res.finalUrl);
  const candidates: ClaimCandidate[] = [];
  for (const raw of extractCssUrls(css)) {
    const url = resolve(raw);
    if (url && url.length <= options.maxUrlLength) candidates.push({ kind: 'i', url });
  }
  for (const raw of extractCssImports(css)) {
    const url = resolve(raw);
    if (url) candidates.push({ kind: 'c', url });
  }
  const claimed = await rt.frontier.claim(data.sessionId, String(job.id), candidates);
  const via = new Map(claimed.map((c) => [c.url, 'stylesheet']));
  await rt.queues.enqueue(data.sessionId, claimed, { depth: data.depth, referrer: res.finalUrl, via });
  return { images_found: claimed.filter((c) => c.kind === 'i').length };
}

/** Records a page (or stylesheet) that could not be crawled, with the reason. */
export async function recordCrawlFailure(rt: Runtime, data: CrawlJobData, httpStatus: number, error: string): Promise<StatsDelta> {
  await recordPage(rt, data, { status: 'failed', http_status: httpStatus, error: error.slice(0, 2000) });
  return { pages_failed: data.kind === 'page' ? 1 : 0, errors: 1 };
}

function recordPage(
  rt: Runtime,
  data: CrawlJobData,
  outcome: { status: PageStatus; http_status: number; final_url?: string | null; images_found?: number; links_found?: number; error?: string },
): Promise<void> {
  if (data.kind !== 'page') return Promise.resolve(); // stylesheets are not pages
  return rt.pages.record({
    session_id: data.sessionId,
    url: data.url,
    depth: data.depth,
    final_url: outcome.final_url ?? null,
    status: outcome.status,
    http_status: outcome.http_status,
    images_found: outcome.images_found ?? 0,
    links_found: outcome.links_found ?? 0,
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
