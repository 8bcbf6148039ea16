import http from 'node:http';
import zlib from 'node:zlib';
import { CONTENT_TYPES, EXTENSIONS, IMAGE_FORMATS, ImageFactory } from './image-factory';
import { startLocalServer } from './local-server';

/**
 * A site written to hurt crawlers, for the hostile-input test and `npm run bench:hostile`: every
 * trap issue 11 names (a CSS scanner bomb, a formatting-element bomb, an endless @import chain, a 3.8 MB page of 100,000
 * links, a srcset of 5,000 candidates, broken HTML, bodies that trickle, hang, reset or close,
 * decompression bombs, an HTML page behind .jpg, a truncated JPEG, a redirect into a private
 * range, a 10-minute Retry-After) among ordinary images a crawler must still find and store.
 */

export interface HostileSite {
  origin: string;
  startUrl: string;
  /** Ordinary images: URL → sha256 of the bytes served. Each must end stored. */
  ordinary: Map<string, string>;
  /** Trap image URLs → what the recorded error must say. Each must end failed. */
  traps: Map<string, RegExp>;
  /** Requests per path (query included); the second host's as `slow-host<path>`. */
  requests: Map<string, number>;
  close(): Promise<void>;
}

const BIG_PAGE_LINKS = 100_000;
const SRCSET_CANDIDATES = 5_000;
const IMPORT_CHAIN = 10_000;
const ORDINARY_IMAGES = 28;

export async function startHostileSite(): Promise<HostileSite> {
  const factory = await ImageFactory.create({ perFormat: 2, minBytes: 600, maxBytes: 2000, seed: 11 });
  const routes = new Map<string, http.RequestListener>();
  const ordinary = new Map<string, string>();
  const traps = new Map<string, RegExp>();
  const requests = new Map<string, number>();
  let origin = '';

  let next = 0;
  /** A new ordinary image served at /o/<n>.<ext>; returns its path. */
  const image = (contentType?: string): string => {
    const format = IMAGE_FORMATS[next % IMAGE_FORMATS.length];
    const img = factory.image(format, next);
    const path = `/o/${next++}.${EXTENSIONS[format]}`;
    routes.set(path, (_q, res) => res.writeHead(200, { 'Content-Type': contentType ?? CONTENT_TYPES[format] }).end(img.body));
    ordinary.set(path, img.sha256);
    return path;
  };
  const html = (body: string): http.RequestListener => (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(body);
  const trap = (path: string, reason: RegExp, handler: http.RequestListener): string => {
    routes.set(path, handler);
    traps.set(path, reason);
    return path;
  };
  const imgs = (paths: string[]) => paths.map((p) => `<img src="${p}">`).join('\n');

  // The CSS url() scanner bomb: an unclosed url( followed by escapes, in a block and an attribute.
  const cssBomb = `a{background:url(${'\\1'.repeat(5000)}`;
  routes.set('/css-bomb', html(`<style>${cssBomb}</style><div style="${cssBomb}">x</div>\n${imgs([image(), image(), image()])}`));

  // A 3.8 MB page: 100,000 links (capped per page), ordinary images at its very end.
  const bigLinks = Array.from({ length: BIG_PAGE_LINKS }, (_, i) => `<a href="/big/${i}">link number ${i}</a>`).join('\n');
  routes.set('/big', html(`${bigLinks}\n${imgs([image(), image()])}`));
  routes.set('/big-leaf', html('<p>a page the big one links to</p>'));

  // srcset of 5,000 candidates: only a few are kept; the kept ones answer 404.
  const candidates = Array.from({ length: SRCSET_CANDIDATES }, (_, i) => `/srcset/c${i}.jpg ${i + 1}w`).join(', ');
  routes.set('/srcset', html(`<img srcset="${candidates}" src="${image()}">\n${imgs([image()])}`));

  // Broken HTML a browser still reads: unclosed <li>, <p>, attribute quirks, a tag cut at end of file.
  routes.set(
    '/broken',
    html(
      `<!doctype html><title>broken</title><ul><li><img src="${image()}"><li><p><img src=${image()}>` +
        `<table><tr><td><img src='${image()}'></table><select><option>a</select><img SRC="${image()}">` +
        `<textarea>no <img src="/never.png"> here</textarea><div><img src="${image()}"` +
        '><p>the end <img src="/cut-at-eof.png"',
    ),
  );

  // Formatting elements closed early and re-opened by every later text (47 KB built 4 million
  // elements before reconstruction was bounded), images among and after them.
  const bolds = Array.from({ length: 2000 }, (_, i) => `<b id=b${i}>`).join('');
  const texts = Array.from({ length: 2000 }, (_, i) => (i === 1000 ? `<div>x<img src="${image()}"></div>` : '<div>x</div>')).join('');
  routes.set('/formatting-bomb', html(`<div>${bolds}</div>${texts}\n${imgs([image()])}`));

  // An endless @import chain, each sheet with a background image of its own.
  routes.set('/imports', html(`<link rel="stylesheet" href="/chain/0.css">${imgs([image()])}`));
  const chainImages = [image(), image(), image()];
  for (let i = 0; i < IMPORT_CHAIN; i++) {
    const bg = chainImages[i] ?? '/chain-deep.png';
    routes.set(`/chain/${i}.css`, (_q, res) => res.writeHead(200, { 'Content-Type': 'text/css' }).end(`@import url("/chain/${i + 1}.css");\n.c${i} { background-image: url(${bg}) }`));
  }

  // Image traps: each must end failed, with a reason a user can read.
  const png = factory.image('png', 9999).body;
  const jpeg = factory.image('jpeg', 9998).body;
  const failures = [
    trap('/t/bomb.png', /pixel|exceeds/i, (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(pngHeader(50_000, 50_000))),
    trap('/t/gif-frame-bomb.gif', /pixel|exceeds|frame/i, (_q, res) => res.writeHead(200, { 'Content-Type': 'image/gif' }).end(gifWithHugeFrame())),
    trap('/t/gzip-bomb.png', /exceeds the \d+-byte limit/, (_q, res) =>
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': 'gzip' }).end(zlib.gzipSync(Buffer.alloc(80_000_000))),
    ),
    trap('/t/page.jpg', /not an image.*text\/html/, html('<!doctype html><p>an HTML page behind .jpg</p>')),
    trap('/t/truncated.jpg', /truncat|corrupt|premature|not an image|invalid/i, (_q, res) => res.writeHead(200, { 'Content-Type': 'image/jpeg' }).end(jpeg.subarray(0, Math.floor(jpeg.length / 3)))),
    trap('/t/to-private.jpg', /refusing 10\.0\.0\.1 .*private/, (_q, res) => res.writeHead(302, { Location: 'http://10.0.0.1/secret.jpg' }).end()),
    trap('/t/loop.jpg', /redirect loop/, (_q, res) => res.writeHead(302, { Location: '/t/loop-2.jpg' }).end()),
    trap('/t/trickle.jpg', /timeout after|stalled/, (_q, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg' });
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write('x')), 1000);
    }),
    trap('/t/hang.jpg', /timeout|no response/, () => undefined),
    trap('/t/reset.jpg', /ECONNRESET|socket|closed|terminated/i, (_q, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': '5000' });
      res.write(jpeg.subarray(0, 100));
      setTimeout(() => res.socket?.resetAndDestroy(), 10);
    }),
    trap('/t/closed.jpg', /socket|closed|ECONNRESET|terminated/i, (q) => q.socket.destroy()),
    trap('/t/missing.png', /404/, (_q, res) => res.writeHead(404).end('gone')),
  ];
  routes.set('/t/loop-2.jpg', (_q, res) => res.writeHead(302, { Location: '/t/loop.jpg' }).end());
  // A real image sent with a wrong type is still an image: ordinary, stored.
  const mislabelled = image('text/plain');
  // Another host asks for a 10-minute pause: that URL fails with the reason, and that host waits
  // (up to crawler.max_retry_after_s) without holding up this one.
  const slowHost = await startLocalServer((req, res) => {
    requests.set(`slow-host${req.url}`, (requests.get(`slow-host${req.url}`) ?? 0) + 1);
    if (req.url === '/t/rate-limited.jpg') res.writeHead(429, { 'Retry-After': '600' }).end();
    else res.writeHead(404).end();
  });
  const rateLimited = `${slowHost.origin}/t/rate-limited.jpg`;
  routes.set('/failures', html(`${imgs([...failures, rateLimited])}\n${imgs([mislabelled, image()])}`));
  // A once-rate-limited image comes on the second request.
  let limitedOnce = false;
  routes.set('/o/limited-once.png', (_q, res) => {
    if (!limitedOnce) {
      limitedOnce = true;
      res.writeHead(429, { 'Retry-After': '1' }).end();
    } else res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
  });
  ordinary.set('/o/limited-once.png', '');

  const home = [image(), image()];
  const rest: string[] = [];
  while (ordinary.size < ORDINARY_IMAGES) rest.push(image());
  routes.set('/more', html(imgs(rest)));
  routes.set(
    '/',
    html(
      ['/css-bomb', '/formatting-bomb', '/big', '/srcset', '/broken', '/imports', '/failures', '/more'].map((p) => `<a href="${p}">${p}</a>`).join('\n') +
        `\n${imgs([...home, '/o/limited-once.png'])}`,
    ),
  );

  const server = await startLocalServer((req, res) => {
    const path = req.url ?? '/';
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const route = routes.get(path) ?? (path.startsWith('/big/') ? routes.get('/big-leaf') : undefined);
    if (route) route(req, res);
    else res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
  });
  origin = server.origin;
  const absolute = <T>(m: Map<string, T>) => new Map([...m].map(([p, v]) => [`${origin}${p}`, v]));
  return {
    origin,
    startUrl: `${origin}/`,
    ordinary: absolute(ordinary),
    traps: new Map([...absolute(traps), [rateLimited, /rate limited.*longer than the \d+ s waited at most/]]),
    requests,
    close: async () => {
      await Promise.all([server.close(), slowHost.close()]);
    },
  };
}

/** A PNG whose header declares `width` × `height` (no pixel data follows). */
function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const data = Buffer.concat([Buffer.from('IHDR', 'latin1'), ihdr]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(13);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(data));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), len, data, crc]);
}

/** A GIF whose logical screen is 1×1 and whose one frame is 65535×65535. */
function gifWithHugeFrame(): Buffer {
  return Buffer.concat([
    Buffer.from('GIF89a', 'latin1'),
    Buffer.from([1, 0, 1, 0, 0x00, 0, 0]), // screen 1×1, no global colour table
    Buffer.from([0x2c, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x00]), // image descriptor: 65535×65535
    Buffer.from([2, 2, 0x4c, 0x01, 0]), // LZW minimum code size, one sub-block, terminator
    Buffer.from([0x3b]),
  ]);
}
