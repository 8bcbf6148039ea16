import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { expect } from 'chai';
import sharp from 'sharp';
import type { ImageRow } from '../../src/db/image-repository';
import { startServer } from '../support/hostile-server';
import { startSyntheticSite } from '../../src/demo/synthetic-site';
import { expectEveryImageStoredOnce, startTestRuntime, testConfig } from '../support/test-env';
import { waitFor } from '../support/wait-for';

/** Crawls `server`'s start page to the end with a fresh runtime; its image rows by path, and the session. */
async function crawlServer(server: { origin: string; close(): Promise<void> }, config = testConfig()) {
  const t = await startTestRuntime(config);
  try {
    const { id } = await t.rt.sessions.start({ urls: [`${server.origin}/`] });
    const view = await t.waitForSession(id);
    const rows = await t.rt.knex<ImageRow>('images').where({ session_id: id });
    return { view, byPath: new Map(rows.map((r) => [new URL(r.url).pathname, r])) };
  } finally {
    await t.close();
    await server.close();
  }
}

describe('hostile and broken servers: a clear error, nothing lost', function () {
  this.timeout(60_000);

  it('records redirect loops, oversized and gzip-bomb bodies, hanging servers; honours Retry-After', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123' } }).png().toBuffer();
    let limitedCalls = 0;
    const limitedAt: number[] = [];
    const server = await startServer({
      '/': (_q, res) =>
        res.writeHead(200, { 'Content-Type': 'text/html' }).end(
          ['/loop-a.png', '/huge.png', '/bomb.png', '/raw-bomb.png', '/hang.png', '/limited.png', '/ok.png', '/trickle.png'].map((p) => `<img src="${p}">`).join('') +
            '<a href="/page-loop">x</a>',
        ),
      '/loop-a.png': (_q, res) => res.writeHead(302, { Location: '/loop-b.png' }).end(),
      '/loop-b.png': (_q, res) => res.writeHead(302, { Location: '/loop-a.png' }).end(),
      '/page-loop': (_q, res) => res.writeHead(301, { Location: '/page-loop-2' }).end(),
      '/page-loop-2': (_q, res) => res.writeHead(301, { Location: '/page-loop' }).end(),
      '/huge.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(5_000_000) }).end(Buffer.alloc(5_000_000)),
      '/bomb.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': 'gzip' }).end(zlib.gzipSync(Buffer.alloc(20_000_000))),
      '/raw-bomb.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': 'deflate' }).end(zlib.deflateRawSync(Buffer.alloc(20_000_000))),
      '/hang.png': () => undefined, // never answers
      '/trickle.png': (_q, res) => {
        res.writeHead(200, { 'Content-Type': 'image/png' });
        const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write('x')), 100);
      },
      '/limited.png': (_q, res) => {
        limitedAt.push(Date.now());
        if (limitedCalls++ === 0) res.writeHead(429, { 'Retry-After': '1' }).end();
        else res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
      },
      '/ok.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png),
    });
    const { view, byPath } = await crawlServer(server, testConfig({ crawler: { max_image_bytes: 1_000_000, request_timeout_ms: 800 }, worker: { attempts: 3 } }));
    expect(byPath.get('/ok.png')?.status).to.equal('stored');
    expect(byPath.get('/loop-a.png')?.error).to.match(/redirect loop/);
    expect(byPath.get('/huge.png')?.error).to.match(/exceeds the 1000000-byte limit/);
    expect(byPath.get('/bomb.png')?.error).to.match(/exceeds the 1000000-byte limit/);
    expect(byPath.get('/raw-bomb.png')?.error).to.match(/exceeds the 1000000-byte limit/);
    expect(byPath.get('/hang.png')?.error).to.match(/deadline|timeout/i);
    expect(byPath.get('/trickle.png')?.error).to.match(/deadline/);
    expect(byPath.get('/limited.png')?.status).to.equal('stored');
    expect(limitedAt[1] - limitedAt[0]).to.be.greaterThanOrEqual(950);
    expect(view.retries).to.be.greaterThan(0);
    // The page redirect loop ends where the frontier has already seen the URL.
    expect(server.requests.filter((p) => p === '/page-loop')).to.have.length(1);
    expect(server.requests.filter((p) => p === '/page-loop-2')).to.have.length(1);
    expect(view.status).to.equal('completed');
  });

  it('decodes gzip, deflate (zlib or raw) and brotli pages and images as a browser does; an unknown encoding is a clear error', async () => {
    const png = await sharp({ create: { width: 9, height: 7, channels: 3, background: '#456' } }).png().toBuffer();
    const page = '<img src="/gz.png"><img src="/deflate.png"><img src="/raw-deflate.png"><img src="/br.png"><img src="/weird.png"><a href="/next">n</a>';
    const server = await startServer({
      '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Encoding': 'br' }).end(zlib.brotliCompressSync(page)),
      '/next': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Encoding': 'gzip' }).end(zlib.gzipSync('<img src="/from-next.png">')),
      '/gz.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': 'gzip' }).end(zlib.gzipSync(png)),
      '/deflate.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': 'deflate' }).end(zlib.deflateSync(png)),
      '/raw-deflate.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': 'deflate' }).end(zlib.deflateRawSync(png)),
      '/br.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': 'br' }).end(zlib.brotliCompressSync(png)),
      '/from-next.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png),
      '/weird.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': 'x-snappy' }).end(png),
    });
    const { byPath } = await crawlServer(server);
    for (const p of ['/gz.png', '/deflate.png', '/raw-deflate.png', '/br.png', '/from-next.png']) {
      expect(byPath.get(p), p).to.include({ status: 'stored', width: 9, height: 7, file_size: png.length });
    }
    expect(byPath.get('/weird.png')?.error).to.match(/unsupported Content-Encoding "x-snappy"/);
  });

  it('never follows a redirect into what robots.txt disallows', async () => {
    const png = await sharp({ create: { width: 5, height: 5, channels: 3, background: '#abc' } }).png().toBuffer();
    const server = await startServer({
      '/robots.txt': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('User-agent: *\nDisallow: /private/\n'),
      '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<img src="/moved.png"><img src="/ok.png">'),
      '/moved.png': (_q, res) => res.writeHead(302, { Location: '/private/secret.png' }).end(),
      '/private/secret.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png),
      '/ok.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png),
    });
    const { byPath } = await crawlServer(server);
    expect(byPath.get('/ok.png')?.status).to.equal('stored');
    expect(byPath.get('/moved.png')).to.include({ status: 'failed' });
    expect(byPath.get('/moved.png')?.error).to.match(/disallowed by robots\.txt: .*\/private\/secret\.png/);
    expect(server.requests).to.include('/moved.png');
    expect(server.requests).not.to.include('/private/secret.png');
  });

  it('refuses loopback addresses unless allowed, after DNS resolution too, and says why', async () => {
    const server = await startServer({ '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<img src="/a.png">') });
    const t = await startTestRuntime(testConfig({ crawler: { allow_nets: [] } }));
    try {
      const port = new URL(server.origin).port;
      const { id } = await t.rt.sessions.start({ urls: [`${server.origin}/`, `http://localhost:${port}/`] });
      const view = await t.waitForSession(id);
      const pages = await t.rt.knex('pages').where({ session_id: id }).orderBy('url');
      expect(pages.map((p: { status: string }) => p.status)).to.deep.equal(['failed', 'failed']);
      for (const p of pages) expect(p.error).to.match(/refusing .*loopback address; allow it with --allow-private or --allow-net/);
      expect(server.requests).to.deep.equal([]);
      expect(view).to.include({ status: 'completed', pages_failed: 2 });
    } finally {
      await t.close();
      await server.close();
    }
  });

  it('checks every redirect hop: a redirect into a refused range is refused, by IP or by name', async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#456' } }).png().toBuffer();
    const server = await startServer({
      '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<img src="/ok.png"><img src="/to-ip.png"><img src="/to-name.png">'),
      '/ok.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png),
      '/to-ip.png': (_q, res) => res.writeHead(302, { Location: 'http://127.0.0.2/secret.png' }).end(),
      '/to-name.png': (_q, res) => res.writeHead(302, { Location: `http://localhost:${new URL(server.origin).port}/ok.png` }).end(),
    });
    // Only 127.0.0.1 itself is opened; localhost may resolve to ::1 or 127.0.0.1 — ::1 stays refused.
    const { byPath } = await crawlServer(server, testConfig({ crawler: { allow_nets: ['127.0.0.1/32'] } }));
    expect(byPath.get('/ok.png')?.status).to.equal('stored');
    expect(byPath.get('/to-ip.png')).to.include({ status: 'failed' });
    expect(byPath.get('/to-ip.png')?.error).to.match(/refusing 127\.0\.0\.2 .*loopback/);
  });

  it('rejects malformed HTML gracefully and still finds what is there', async () => {
    const png = await sharp({ create: { width: 3, height: 3, channels: 3, background: '#000' } }).png().toBuffer();
    const server = await startServer({
      '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<<html><body <img src=/a.png <div><img src="/b.png"</p><a href="/c.html"><!-- unclosed'),
      '/a.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png),
      '/b.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png),
      '/c.html': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(Buffer.from([0xff, 0xfe, 0x00, 0x3c])),
    });
    const t = await startTestRuntime();
    try {
      const { id } = await t.rt.sessions.start({ urls: [`${server.origin}/`] });
      const view = await t.waitForSession(id);
      expect(view.status).to.equal('completed');
      const rows = await t.rt.knex<ImageRow>('images').where({ session_id: id, status: 'stored' });
      expect(rows.length).to.be.greaterThanOrEqual(1);
    } finally {
      await t.close();
      await server.close();
    }
  });
});

describe('a store that cannot be written: the sites are not hammered, nothing is lost', function () {
  this.timeout(90_000);

  it('holds the jobs without fetching while the disk fails, and stores every image once when it recovers', async () => {
    const site = await startSyntheticSite({ pages: 4, imagesPerPage: 5, minImageBytes: 500, maxImageBytes: 900, seed: 21, specials: false });
    const config = testConfig({ worker: { attempts: 3 } });
    const imagesDir = path.join(config.storage.data_dir, 'images');
    fs.writeFileSync(imagesDir, 'a file where the store wants its directory'); // every write fails with ENOTDIR
    const t = await startTestRuntime(config);
    try {
      const { id } = await t.rt.sessions.start({ urls: [site.startUrl] });
      await waitFor('the failing store closes the infrastructure gate', () => !t.rt.infraGate.state(Date.now()).open, 30_000);
      const imageFetches = () => site.requests.filter((r) => /\.(png|jpe?g|gif|webp)$/.test(r.path)).length;
      await new Promise((r) => setTimeout(r, 1500)); // the jobs under way when the disk failed finish failing
      const before = imageFetches();
      await new Promise((r) => setTimeout(r, 5000));
      // Without the gate every held job would fetch its image again every 2 s (~40 fetches here);
      // with it one probe goes at a time, after 1, 2, 4 s…
      expect(imageFetches() - before).to.be.at.most(4);
      expect(t.rt.infraGate.state(Date.now()).reason).to.match(/ENOTDIR|not a directory/);

      fs.rmSync(imagesDir); // the disk recovers
      const view = await t.waitForSession(id, 60_000);
      expect(view.status).to.equal('completed');
      await expectEveryImageStoredOnce(t, site, id);
      expect(t.rt.infraGate.state(Date.now()).open).to.equal(true);
    } finally {
      await t.close();
      await site.close();
    }
  });
});
