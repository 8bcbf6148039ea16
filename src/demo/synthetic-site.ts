import { LocalServer, startLocalServer } from './local-server';
import { CONTENT_TYPES, EXTENSIONS, GeneratedImage, IMAGE_FORMATS, ImageFactory } from './image-factory';

/**
 * A generated website served on 127.0.0.1 for the demo, the integration tests and the
 * benchmark. Pages form a 10-ary tree (shallow even at thousands of pages) and reference
 * images in every form a browser loads; the generator writes down, for every image URL a
 * browser would request, what a correct crawl must record. Optional "specials" add the
 * awkward parts: duplicates by content, 404s, redirect chains, a robots-disallowed area, an
 * off-host link, a non-image behind an image URL, a slow endpoint and a spider trap.
 */

export interface SiteOptions {
  pages: number;
  /** Image references per page (each form in turn). */
  imagesPerPage: number;
  minImageBytes: number;
  maxImageBytes: number;
  seed: number;
  /** Add the awkward cases listed above. Default true. */
  specials?: boolean;
  /** Delay of the slow image endpoint. Default 3000 ms. */
  slowMs?: number;
  /** The crawler's timeout exceeds `slowMs`, so the slow image is expected to be stored. Default false. */
  slowSucceeds?: boolean;
  /** Added to every response, as the real web's round trips are (a latency-bound site). Default 0. */
  latencyMs?: number;
  /**
   * Where a front server (the benchmark's nginx) publishes the site and its CDN; pages and
   * expectations name these origins, and this process serves what the front does not.
   * Default: this process's own servers.
   */
  publishAt?: { origin: string; cdnOrigin: string };
}

export type ExpectedImage =
  | { url: string; ok: true; sha256: string; width: number; height: number; format: string; bytes: number }
  | { url: string; ok: false; httpStatus: number; reason: string };

export interface RequestLogEntry {
  server: 'site' | 'cdn';
  path: string;
}

export interface RunningSite {
  origin: string;
  cdnOrigin: string;
  startUrl: string;
  /** Every image URL a browser would request from the reachable, allowed pages. */
  expected: Map<string, ExpectedImage>;
  /** Every reachable, allowed page URL. */
  pages: Set<string>;
  /** Paths that must never be requested (robots-disallowed, off-host pages). */
  forbidden: Set<string>;
  requests: RequestLogEntry[];
  /** Total bytes of all distinct image bodies. */
  imageBytes: number;
  /** What each path answers, for a front server that serves the static part itself. */
  routes: { site: ReadonlyMap<string, SiteRoute>; cdn: ReadonlyMap<string, SiteRoute> };
  /** This process's own servers (the same as origin/cdnOrigin unless `publishAt` is given). */
  backends: { origin: string; cdnOrigin: string };
  close(): Promise<void>;
}

export interface SiteRoute {
  status: number;
  type?: string;
  body?: Buffer | string;
  location?: string;
  delayMs?: number;
}

export async function startSyntheticSite(opts: SiteOptions): Promise<RunningSite> {
  const siteRoutes = new Map<string, SiteRoute>();
  const cdnRoutes = new Map<string, SiteRoute>();
  const requests: RequestLogEntry[] = [];
  const site = await listen(siteRoutes, requests, 'site', opts.latencyMs ?? 0);
  const cdn = await listen(cdnRoutes, requests, 'cdn', opts.latencyMs ?? 0);
  const published = opts.publishAt ?? { origin: site.origin, cdnOrigin: cdn.origin };
  const built = await buildSite(opts, published.origin, published.cdnOrigin, siteRoutes, cdnRoutes);
  return {
    ...published,
    startUrl: `${published.origin}/`,
    ...built,
    requests,
    routes: { site: siteRoutes, cdn: cdnRoutes },
    backends: { origin: site.origin, cdnOrigin: cdn.origin },
    close: async () => {
      await Promise.all([site.close(), cdn.close()]);
    },
  };
}

function listen(routes: Map<string, SiteRoute>, log: RequestLogEntry[], server: 'site' | 'cdn', latencyMs: number): Promise<LocalServer> {
  return startLocalServer((req, res) => {
    const path = req.url ?? '/';
    log.push({ server, path });
    const trap = /^\/trap((?:\/[a-z])+)\/$/.exec(path);
    const route: SiteRoute | undefined = routes.get(path) ?? (trap ? trapPage(path) : undefined);
    if (!route) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    const send = () => {
      if (res.destroyed) return;
      const headers: Record<string, string> = {};
      if (route.type) headers['Content-Type'] = route.type;
      if (route.location) headers.Location = route.location;
      res.writeHead(route.status, headers).end(route.body ?? '');
    };
    const delay = (route.delayMs ?? 0) + latencyMs;
    if (delay > 0) setTimeout(send, delay);
    else send();
  });
}

/** /trap/a/ → /trap/a/a/ → …: an endless generated tree only a path-repetition rule stops. */
function trapPage(path: string): SiteRoute {
  return { status: 200, type: 'text/html', body: `<html><body><a href="${path}a/">deeper</a></body></html>` };
}

function pagePath(i: number): string {
  return i === 0 ? '/' : `/section-${i % 7}/page-${i}.html`;
}

async function buildSite(
  opts: SiteOptions,
  origin: string,
  cdnOrigin: string,
  routes: Map<string, SiteRoute>,
  cdnRoutes: Map<string, SiteRoute>,
) {
  const specials = opts.specials ?? true;
  const factory = await ImageFactory.create({ perFormat: 24, minBytes: opts.minImageBytes, maxBytes: opts.maxImageBytes, seed: opts.seed });
  const expected = new Map<string, ExpectedImage>();
  const pages = new Set<string>();
  const forbidden = new Set<string>();
  let imageBytes = 0;
  let nextImageId = 1;

  /** Serves a new distinct image at `path` on `server` and expects it under `url`. */
  const serveImage = (img: GeneratedImage, path: string, server: Map<string, SiteRoute>, serverOrigin: string) => {
    server.set(path, { status: 200, type: CONTENT_TYPES[img.format], body: img.body });
    const url = serverOrigin + path;
    expected.set(url, { url, ok: true, sha256: img.sha256, width: img.width, height: img.height, format: img.format, bytes: img.body.length });
    return url;
  };
  const newImage = (dir: string, server = routes, serverOrigin = origin): { path: string; img: GeneratedImage } => {
    const id = nextImageId++;
    const format = IMAGE_FORMATS[id % IMAGE_FORMATS.length];
    const img = factory.image(format, id);
    imageBytes += img.body.length;
    const path = `${dir}/img-${id}.${EXTENSIONS[format]}`;
    serveImage(img, path, server, serverOrigin);
    return { path, img };
  };

  // Site-wide images: the same URL on every page (fetched once), and one stylesheet per section.
  const logo = newImage('/static');
  const sectionCss = new Map<number, string>();
  for (let s = 0; s < Math.min(7, opts.pages); s++) {
    const bg = newImage(`/static/section-${s}`);
    const cssPath = `/static/section-${s}.css`;
    routes.set(cssPath, { status: 200, type: 'text/css', body: `@font-face{font-family:x;src:url(/fonts/x.woff2)}\n.hero{background-image:url("section-${s}/${bg.path.split('/').pop()}")}` });
    sectionCss.set(s, cssPath);
  }

  for (let i = 0; i < opts.pages; i++) {
    const path = pagePath(i);
    pages.add(origin + path);
    const head: string[] = [`<link rel="stylesheet" href="${sectionCss.get(i % 7)}">`, `<link rel="icon" href="${logo.path}">`];
    const body: string[] = [];
    const styleBlock: string[] = [];
    for (let j = 0; j < opts.imagesPerPage; j++) {
      const form = (i * opts.imagesPerPage + j) % 16;
      const dir = `/images/p${i}`;
      const img = () => newImage(dir).path;
      switch (form) {
        case 0: body.push(`<img src="${img()}" alt="">`); break;
        case 1: body.push(`<IMG SRC="${img()}" SRCSET="${img()} 1x, ${img()} 2x">`); break;
        case 2: body.push(`<picture><source type="image/webp" srcset="${img()} 640w, ${img()} 1280w"><img src="${img()}"></picture>`); break;
        case 3: body.push(`<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="${img()}" class="lazyload">`); break;
        case 4: body.push(`<img data-srcset="${img()} 2x" data-lazy-src="${img()}">`); break;
        case 5: body.push(`<div style="background-image: url('${img()}')"></div>`); break;
        case 6: styleBlock.push(`.b${j}{background:url(${img()}) no-repeat}`); break;
        case 7: body.push(`<video poster="${img()}"><source src="/media/v.mp4"></video>`); break;
        case 8: body.push(`<input type="image" src="${img()}" alt="go">`); break;
        case 9: body.push(`<svg width="10" height="10"><image xlink:href="${img()}" /></svg>`); break;
        case 10: head.push(`<link rel="preload" as="image" href="${img()}">`); break;
        case 11: body.push(`<noscript><img src="${img()}"></noscript>`); break;
        case 12: head.push(`<meta property="og:image" content="${origin}${img()}">`); break;
        case 13: {
          // Served by another host (a CDN), referenced protocol-relative.
          const cdnImg = newImage(`/cdn/p${i}`, cdnRoutes, cdnOrigin);
          body.push(`<img src="${cdnOrigin.replace('http:', '')}${cdnImg.path}">`);
          break;
        }
        case 14: {
          // Relative to the page's directory, with an entity-encoded query string.
          const extra = factory.image(IMAGE_FORMATS[j % 4], nextImageId++);
          imageBytes += extra.body.length;
          const name = `rel-${i}-${j}.${EXTENSIONS[extra.format]}`;
          serveImage(extra, `${path.slice(0, path.lastIndexOf('/') + 1)}${name}?v=1&w=2`, routes, origin);
          body.push(`<img src="${name}?v=1&amp;w=2">`);
          break;
        }
        case 15: body.push(`<a href="${img()}">full size</a>`); break;
      }
    }
    // Links: children in a 10-ary tree, back to the index.
    const links: string[] = ['<a href="/">home</a>'];
    for (let c = i * 10 + 1; c <= i * 10 + 10 && c < opts.pages; c++) links.push(`<a href="${pagePath(c)}#top">page ${c}</a>`);
    if (i === 0) links.push('<a href="mailto:x@example.com">mail</a>', '<a href="javascript:void(0)">js</a>', '<a href="#frag">frag</a>');
    routes.set(path, { status: 200, type: 'text/html; charset=utf-8', body: html(head, styleBlock, [...body, logoTag(logo.path), ...links]) });
  }

  let robots = 'User-agent: *\nAllow: /\n';
  if (specials) {
    robots = 'User-agent: *\nDisallow: /private/\n';
    const extra: string[] = [];
    // Duplicates by content: three more URLs serving the bytes of one image.
    const original = factory.image('png', 999_001);
    imageBytes += original.body.length;
    for (const name of ['a', 'b', 'c']) {
      serveImage(original, `/dup/${name}.png`, routes, origin);
      extra.push(`<img src="/dup/${name}.png">`);
    }
    // 404s.
    for (const name of ['gone-1.png', 'gone-2.jpg']) {
      extra.push(`<img src="/missing/${name}">`);
      expected.set(`${origin}/missing/${name}`, { url: `${origin}/missing/${name}`, ok: false, httpStatus: 404, reason: 'HTTP 404' });
    }
    // A redirect chain to an image, and one to a page.
    const target = newImage('/moved');
    routes.set('/redirect/img-1', { status: 301, location: '/redirect/img-2' });
    routes.set('/redirect/img-2', { status: 302, location: target.path });
    expected.set(`${origin}/redirect/img-1`, { ...(expected.get(origin + target.path) as ExpectedImage), url: `${origin}/redirect/img-1` });
    expected.delete(origin + target.path);
    extra.push('<img src="/redirect/img-1">');
    routes.set('/old/start', { status: 301, location: '/old/middle' });
    routes.set('/old/middle', { status: 302, location: pagePath(Math.min(3, opts.pages - 1)) });
    extra.push('<a href="/old/start">old link</a>');
    // A robots-disallowed area: linked page, its images, and an image referenced from an allowed page.
    routes.set('/private/index.html', { status: 200, type: 'text/html', body: html([], [], ['<img src="/private/inner.png">']) });
    const privateImg = factory.image('png', 999_002);
    routes.set('/private/hidden.png', { status: 200, type: 'image/png', body: privateImg.body });
    routes.set('/private/inner.png', { status: 200, type: 'image/png', body: privateImg.body });
    extra.push('<a href="/private/index.html">private</a>', '<img src="/private/hidden.png">');
    expected.set(`${origin}/private/hidden.png`, { url: `${origin}/private/hidden.png`, ok: false, httpStatus: 0, reason: 'robots.txt' });
    forbidden.add('/private/index.html').add('/private/hidden.png').add('/private/inner.png');
    // An off-host page link: never crawled (its image would be wrong to record).
    cdnRoutes.set('/offsite.html', { status: 200, type: 'text/html', body: html([], [], ['<img src="/offsite.png">']) });
    extra.push(`<a href="${cdnOrigin}/offsite.html">elsewhere</a>`);
    forbidden.add('/offsite.html');
    // A non-image behind an image URL.
    routes.set('/images/fake.jpg', { status: 200, type: 'text/html', body: '<html>not an image</html>' });
    extra.push('<img src="/images/fake.jpg">');
    expected.set(`${origin}/images/fake.jpg`, { url: `${origin}/images/fake.jpg`, ok: false, httpStatus: 200, reason: 'not an image' });
    // A slow endpoint.
    const slow = factory.image('jpeg', 999_003);
    extra.push('<img src="/slow/pic.jpg">');
    if (opts.slowSucceeds) serveImage(slow, '/slow/pic.jpg', routes, origin);
    else expected.set(`${origin}/slow/pic.jpg`, { url: `${origin}/slow/pic.jpg`, ok: false, httpStatus: 0, reason: 'timeout' });
    routes.set('/slow/pic.jpg', { status: 200, type: 'image/jpeg', body: slow.body, delayMs: opts.slowMs ?? 3000 });
    // A spider trap.
    extra.push('<a href="/trap/a/">trap</a>');
    // Spaces and <base href>: a page whose relative URLs resolve against another directory.
    const spaced = factory.image('webp', 999_004);
    imageBytes += spaced.body.length;
    serveImage(spaced, '/base-dir/my%20photo.webp', routes, origin);
    routes.set('/based.html', { status: 200, type: 'text/html', body: html(['<base href="/base-dir/">'], [], ['<img src="my photo.webp">']) });
    pages.add(`${origin}/based.html`);
    extra.push('<a href="/based.html">based</a>');

    const index = routes.get('/') as SiteRoute;
    index.body = String(index.body).replace('</body>', `${extra.join('\n')}</body>`);
  }
  routes.set('/robots.txt', { status: 200, type: 'text/plain', body: robots });
  return { expected, pages, forbidden, imageBytes };
}

function logoTag(path: string): string {
  return `<img src="${path}" alt="logo">`;
}

function html(head: string[], style: string[], body: string[]): string {
  return `<!DOCTYPE html><html><head><title>synthetic</title>${head.join('')}${style.length ? `<style>${style.join('\n')}</style>` : ''}</head><body>${body.join('\n')}</body></html>`;
}
