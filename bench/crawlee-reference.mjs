// The reference the benchmark is compared with: a well-written Crawlee CheerioCrawler script
// for the same job on the same site and server as `npm run bench` — crawl the pages (robots.txt
// obeyed, depth 20), find images in the common forms, download each image URL once and sha256
// it; no files, no database. Crawlee is not a dependency of this project; to run it:
//   mkdir -p /tmp/crawlee && (cd /tmp/crawlee && npm init -y && npm install crawlee@3)
//   CRAWLEE_DIR=/tmp/crawlee node bench/crawlee-reference.mjs [pages] [auto|nginx|node]
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
const { CheerioCrawler, Configuration, log } = createRequire(path.join(process.env.CRAWLEE_DIR ?? '/tmp/crawlee', 'package.json'))('crawlee');
log.setLevel(log.LEVELS.WARNING);
const pages = process.argv[2] ?? '2000';
const here = path.dirname(fileURLToPath(import.meta.url));
const server = fork(path.join(here, 'site-server.ts'), [pages, '10', '1', process.argv[3] ?? 'auto'], { execArgv: ['--import', 'tsx'], cwd: path.dirname(here) });
const site = await new Promise((r) => server.on('message', (m) => m?.startUrl && r(m)));
console.error(`site ready: ${site.expected} image URLs, served by ${site.server}`);
const IMG = /\.(jpe?g|png|webp|gif|svg|avif|ico)(\?|$)/i;
let images = 0, bytes = 0, failed = 0, pagesDone = 0;
const hashes = new Set();
let peak = 0; const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
const srcsetUrls = (s) => (s || '').split(/,\s+/).map((c) => c.trim().split(/\s+/)[0]).filter(Boolean);
const cssUrls = (s) => [...(s || '').matchAll(/url\(\s*['"]?([^'")]+)['"]?\s*\)/g)].map((m) => m[1]);
const crawler = new CheerioCrawler({
  maxConcurrency: 64, minConcurrency: 64, maxRequestRetries: 1, useSessionPool: false, persistCookiesPerSession: false,
  respectRobotsTxtFile: true, maxCrawlDepth: 20, requestHandlerTimeoutSecs: 30, navigationTimeoutSecs: 10,
  additionalMimeTypes: ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/svg+xml', 'image/avif', 'image/x-icon', 'text/plain', 'application/octet-stream'],
  async requestHandler({ request, $, body, enqueueLinks, crawler }) {
    if (request.label === 'IMG') {
      hashes.add(createHash('sha256').update(body).digest('hex')); images++; bytes += body.length; return;
    }
    pagesDone++;
    const base = request.loadedUrl;
    const found = new Set();
    const add = (u) => { if (!u || u.startsWith('data:')) return; try { found.add(new URL(u.trim(), base).href.replace(/#.*/, '')); } catch {} };
    $('img, source').each((_, e) => { const a = e.attribs; add(a.src); for (const k of ['srcset', 'data-srcset']) srcsetUrls(a[k]).forEach(add); for (const k of ['data-src', 'data-lazy-src', 'data-original', 'data-lazy', 'data-url']) add(a[k]); });
    $('[style]').each((_, e) => cssUrls(e.attribs.style).forEach(add));
    $('style').each((_, e) => cssUrls($(e).text()).forEach(add));
    $('video[poster]').each((_, e) => add(e.attribs.poster));
    $('input[type=image]').each((_, e) => add(e.attribs.src));
    $('image').each((_, e) => add(e.attribs.href || e.attribs['xlink:href']));
    $('link[rel~=icon], link[rel=preload][as=image], link[rel=apple-touch-icon]').each((_, e) => add(e.attribs.href));
    $('meta[property="og:image"], meta[name="twitter:image"]').each((_, e) => add(e.attribs.content));
    $('noscript').each((_, e) => { const h = $(e).text(); for (const m of h.matchAll(/src=["']([^"']+)/g)) add(m[1]); });
    await crawler.addRequests([...found].map((url) => ({ url, label: 'IMG' })));
    await enqueueLinks({ selector: 'a[href], area[href]', strategy: 'same-hostname', exclude: [IMG] });
  },
  failedRequestHandler() { failed++; },
}, new Configuration({ persistStorage: false }));
const c0 = process.cpuUsage(); const t0 = Date.now();
await crawler.run([site.startUrl]);
const s = (Date.now() - t0) / 1000; const cpu = process.cpuUsage(c0);
clearInterval(t);
console.log(JSON.stringify({ seconds: s, pages: pagesDone, images, distinct: hashes.size, failed, mb: +(bytes / 1e6).toFixed(1), imagesPerS: Math.round(images / s), peakRssMb: Math.round(peak / 1e6), cpuS: +((cpu.user + cpu.system) / 1e6).toFixed(1) }));
server.disconnect();
setTimeout(() => process.exit(0), 2000);
