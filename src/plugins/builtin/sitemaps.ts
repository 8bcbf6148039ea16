import { gunzipSync } from 'node:zlib';
import { Parser } from 'htmlparser2';
import type { PageFindings, PageTools, PluginFactory, PluginLogger } from '../plugin-api';

const XML_ACCEPT = 'application/xml,text/xml;q=0.9,*/*;q=0.5';

export interface SitemapLimits {
  /** Sitemap files read per site (an index and the sitemaps it lists). */
  maxSitemaps: number;
  /** Page and image URLs taken per site. */
  maxUrls: number;
  /** Bytes of one sitemap, after gunzip (the protocol's limit is 50 MB). */
  maxBytes: number;
}

/** What one sitemap file lists. */
export interface ParsedSitemap {
  /** `<sitemapindex><sitemap><loc>`: more sitemaps. */
  sitemaps: string[];
  /** `<urlset><url><loc>`: pages. */
  pages: string[];
  /** `<image:image><image:loc>` inside a `<url>`: images, with that url's loc as their page. */
  images: { url: string; pageUrl: string }[];
}

/**
 * Sitemaps, on by default: the first page of each site in a session reads the site's robots.txt
 * `Sitemap:` lines and `/sitemap.xml`, follows sitemap indexes, gunzips `.xml.gz`, and hands the
 * crawler the pages listed (crawled within scope and budget) and the images of image sitemaps
 * (`<image:image><image:loc>`, downloaded with their listing page as `pageUrl`).
 * Options: max_sitemaps (50), max_urls (50000), max_bytes (52428800).
 */
export const createSitemaps: PluginFactory = ({ options, log }) => {
  const limits: SitemapLimits = {
    maxSitemaps: positive(options.max_sitemaps, 50, 'max_sitemaps'),
    maxUrls: positive(options.max_urls, 50_000, 'max_urls'),
    maxBytes: positive(options.max_bytes, 50 * 1024 * 1024, 'max_bytes'),
  };
  // Sites this process has already seen in a session: saves asking Redis on every page.
  const seen = new Set<string>();
  return {
    async processPage(page, tools) {
      const origin = new URL(page.url).origin;
      const key = `${page.sessionId} ${origin}`;
      if (seen.has(key)) return undefined;
      if (seen.size > 10_000) seen.clear();
      seen.add(key);
      const first = await tools.once(`sitemaps ${origin}`).catch((err: Error) => {
        seen.delete(key); // Redis away: a later page of the site asks again
        throw err;
      });
      if (!first) return undefined;
      return readSitemaps(origin, tools, limits, log);
    },
  };
};

function positive(value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new Error(`sitemaps: options.${name} must be a positive integer`);
  return value;
}

/** Every sitemap of a site, breadth first from robots.txt's and /sitemap.xml, within the limits. */
export async function readSitemaps(origin: string, tools: PageTools, limits: SitemapLimits, log: PluginLogger): Promise<PageFindings> {
  const listed = await tools.robots(origin).then(
    (robots) => robots.sitemaps,
    () => [] as string[],
  );
  const queue = [...new Set([...listed, `${origin}/sitemap.xml`])];
  const fromRobots = new Set(listed);
  const seen = new Set<string>(queue);
  const pages = new Set<string>();
  const images = new Map<string, string>();
  let read = 0;
  while (queue.length > 0 && read < limits.maxSitemaps && pages.size + images.size < limits.maxUrls) {
    const url = queue.shift() as string;
    read++;
    let parsed: ParsedSitemap;
    try {
      const res = await tools.fetch(url, { accept: XML_ACCEPT, maxBytes: limits.maxBytes });
      parsed = parseSitemap(gunzipIfNeeded(res.body, limits.maxBytes).toString('utf8'));
    } catch (err) {
      // A site without /sitemap.xml is the common case; one that robots.txt names should be there.
      if (fromRobots.has(url)) log.warn('sitemap not read', { url, error: (err as Error).message });
      continue;
    }
    for (const child of parsed.sitemaps) {
      if (!seen.has(child)) {
        seen.add(child);
        queue.push(child);
      }
    }
    for (const p of parsed.pages) if (pages.size + images.size < limits.maxUrls) pages.add(p);
    for (const i of parsed.images) if (pages.size + images.size < limits.maxUrls && !images.has(i.url)) images.set(i.url, i.pageUrl);
  }
  return { pages: [...pages], images: [...images].map(([url, pageUrl]) => ({ url, pageUrl })) };
}

/** A gzip body (by its magic bytes, whatever the headers said) gunzipped, within `maxBytes`. */
export function gunzipIfNeeded(body: Buffer, maxBytes: number): Buffer {
  if (body.length < 2 || body[0] !== 0x1f || body[1] !== 0x8b) return body;
  return gunzipSync(body, { maxOutputLength: maxBytes });
}

/** A sitemap or sitemap index (namespaces by prefix, as sitemaps write them). Pure. */
export function parseSitemap(xml: string): ParsedSitemap {
  const out: ParsedSitemap = { sitemaps: [], pages: [], images: [] };
  const stack: string[] = [];
  let text = '';
  let pageLoc: string | null = null;
  const pendingImages: string[] = [];
  const parser = new Parser(
    {
      onopentag(name) {
        stack.push(name.toLowerCase());
        text = '';
        if (name.toLowerCase() === 'url') {
          pageLoc = null;
          pendingImages.length = 0;
        }
      },
      ontext(t) {
        text += t;
      },
      onclosetag() {
        const name = stack.pop();
        const parent = stack[stack.length - 1];
        const value = text.trim();
        text = '';
        if (name === 'loc' && value && /^https?:\/\//i.test(value)) {
          if (parent === 'sitemap') out.sitemaps.push(value);
          else if (parent === 'url') pageLoc = value;
        } else if (name === 'image:loc' && parent === 'image:image' && value && /^https?:\/\//i.test(value)) {
          pendingImages.push(value);
        } else if (name === 'url') {
          // <image:image> may come before or after the page's <loc>.
          if (pageLoc) {
            out.pages.push(pageLoc);
            for (const url of pendingImages) out.images.push({ url, pageUrl: pageLoc });
          }
          pendingImages.length = 0;
        }
      },
    },
    { xmlMode: true, decodeEntities: true },
  );
  parser.write(xml);
  parser.end();
  return out;
}
