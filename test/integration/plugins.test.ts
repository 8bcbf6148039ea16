import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import sharp from 'sharp';
import { createApp } from '../../src/api/app';
import { AlertSender } from '../../src/alerts/alerts';
import type { ImageRow } from '../../src/db/image-repository';
import type { AppConfig } from '../../src/config/config-schema';
import { ConfigError } from '../../src/errors';
import { Runtime } from '../../src/runtime';
import { runCli, writeConfigFile } from '../support/cli';
import { type Handler, startServer } from '../support/hostile-server';
import { TestRuntime, startTestRuntime, tempDir, testConfig } from '../support/test-env';
import { waitFor } from '../support/wait-for';

const TOKEN = 'plugins-test-token-0123456789abcdef';
const FIXTURES = path.join(__dirname, '../fixtures/plugins');

/** A picture with structure (bands, blobs, a gradient), different for each seed. */
async function picture(seed: number): Promise<Buffer> {
  const w = 480;
  const h = 320;
  const shapes = Array.from({ length: 7 }, (_, i) => {
    const x = (seed * 97 + i * 131) % w;
    const y = (seed * 61 + i * 89) % h;
    const r = 25 + ((seed * 17 + i * 23) % 70);
    return `<circle cx="${x}" cy="${y}" r="${r}" fill="hsl(${(seed * 73 + i * 51) % 360},75%,${25 + ((seed + i) * 13) % 55}%)"/>`;
  }).join('');
  const angle = (seed * 67) % 360;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><defs><linearGradient id="g" gradientTransform="rotate(${angle} .5 .5)"><stop offset="0" stop-color="hsl(${(seed * 41) % 360},70%,85%)"/><stop offset="1" stop-color="hsl(${(seed * 83) % 360},60%,15%)"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/>${shapes}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Why a runtime refused to start with `config` (null: it started, and is closed again). */
async function startError(config: AppConfig): Promise<Error | null> {
  return Runtime.create(config, { migrate: false }).then(
    async (rt) => {
      await rt.close();
      return null;
    },
    (e: Error) => e,
  );
}

const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
const send = (type: string, body: string | Buffer): Handler => (_req, res) => res.writeHead(200, { 'Content-Type': type }).end(body);
/** A handler that needs the site's own origin (known once it listens). */
const withOrigin = (type: string, make: (origin: string) => string | Buffer): Handler => (req, res) => res.writeHead(200, { 'Content-Type': type }).end(make(`http://${req.headers.host}`));

describe('plugins: sitemaps, perceptual hashes, and a plugin of our own', function () {
  this.timeout(120_000);
  let site: Awaited<ReturnType<typeof startServer>>;
  const pictures: Record<string, Buffer> = {};

  before(async () => {
    const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(picture));
    Object.assign(pictures, {
      '/img/home.png': a,
      '/img/orphan-1.png': b,
      '/img/orphan-2.png': c,
      '/img/listed.png': d,
      // Copies of picture a: resized and re-encoded as WebP, re-encoded as a poor JPEG.
      '/img/listed-2.webp': await sharp(a).resize(360).webp({ quality: 60 }).toBuffer(),
      '/img/gallery-1.jpg': await sharp(a).jpeg({ quality: 45 }).toBuffer(),
    });
    const routes: Record<string, Handler> = {
      '/': send('text/html', '<html><body><img src="/img/home.png"><div data-gallery="/img/gallery-1.jpg"></div></body></html>'),
      '/robots.txt': withOrigin('text/plain', (o) => `User-agent: *\nDisallow: /private/\nSitemap: ${o}/sitemaps/index.xml.gz\n`),
      '/sitemaps/index.xml.gz': withOrigin('application/gzip', (o) =>
        gzipSync(
          xml(`<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>${o}/sitemaps/pages.xml</loc></sitemap>
  <sitemap><loc>${o}/sitemaps/images.xml.gz</loc></sitemap>
  <sitemap><loc>${o}/sitemaps/gone.xml</loc></sitemap>
</sitemapindex>`),
        ),
      ),
      '/sitemaps/pages.xml': withOrigin('application/xml', (o) =>
        xml(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>${o}/orphan-1.html</loc><lastmod>2026-11-30</lastmod></url>
  <url><loc>${o}/orphan-2.html</loc></url>
  <url><loc>${o}/private/secret.html</loc></url>
  <url><loc>http://elsewhere.invalid/page.html</loc></url>
</urlset>`),
      ),
      '/sitemaps/images.xml.gz': withOrigin('application/octet-stream', (o) =>
        gzipSync(
          xml(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url>
    <image:image><image:loc>${o}/img/listed.png</image:loc></image:image>
    <loc>${o}/gallery.html</loc>
    <image:image><image:loc>${o}/img/listed-2.webp</image:loc></image:image>
  </url>
</urlset>`),
        ),
      ),
      '/orphan-1.html': send('text/html', '<img src="/img/orphan-1.png">'),
      '/orphan-2.html': send('text/html', '<img src="/img/orphan-2.png">'),
      '/gallery.html': send('text/html', '<p>the gallery is drawn by a script</p>'),
      '/private/secret.html': send('text/html', '<img src="/img/secret.png">'),
    };
    for (const [p, body] of Object.entries(pictures)) routes[p] = send(p.endsWith('.png') ? 'image/png' : p.endsWith('.webp') ? 'image/webp' : 'image/jpeg', body);
    site = await startServer(routes);
  });

  after(async () => {
    await site?.close();
  });

  const rowsOf = async (t: TestRuntime, id: string): Promise<ImageRow[]> => t.rt.knex<ImageRow>('images').where({ session_id: id }).orderBy('url');

  it('reads the sitemaps robots.txt names (gzip, an index, an image sitemap) and hashes every picture: copies are near, others far', async () => {
    const t = await startTestRuntime(testConfig({ plugins: [{ module: 'phash' }] }));
    const server = http.createServer(createApp(t.rt, TOKEN));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(t.rt.plugins.names).to.deep.equal(['sitemaps', 'render', 'phash']);
      const { id } = await t.rt.sessions.start({ urls: [`${site.origin}/`] });
      expect((await t.waitForSession(id)).status).to.equal('completed');

      const pages = await t.rt.knex('pages').where({ session_id: id, kind: 'page' }).orderBy('url');
      const crawled = pages.filter((p: { status: string }) => p.status === 'crawled').map((p: { url: string }) => p.url.replace(site.origin, ''));
      expect(crawled).to.deep.equal(['/', '/gallery.html', '/orphan-1.html', '/orphan-2.html']);
      expect(site.requests, 'robots.txt disallows it').to.not.include('/private/secret.html');
      expect(site.requests.filter((r) => r === '/robots.txt'), 'robots.txt read once, for the crawl and the sitemaps').to.have.length(1);

      const rows = await rowsOf(t, id);
      const byPath = new Map(rows.map((r) => [r.url.replace(site.origin, ''), r]));
      expect([...byPath.keys()].sort()).to.deep.equal(['/img/home.png', '/img/listed-2.webp', '/img/listed.png', '/img/orphan-1.png', '/img/orphan-2.png']);
      for (const r of rows) expect(r.status, r.url).to.equal('stored');
      expect(byPath.get('/img/listed.png')).to.deep.include({ page_url: `${site.origin}/gallery.html`, discovered_via: 'sitemaps' });
      expect(byPath.get('/img/orphan-1.png')).to.deep.include({ page_url: `${site.origin}/orphan-1.html`, discovered_via: 'img' });
      for (const r of rows) expect(r.metadata?.phash, r.url).to.match(/^[0-9a-f]{16}$/);

      const home = byPath.get('/img/home.png') as ImageRow;
      const similar = async (maxDistance: number) => {
        const res = await fetch(`${api}/api/images/${home.id}/similar?maxDistance=${maxDistance}&sessionId=${id}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
        expect(res.status).to.equal(200);
        return ((await res.json()) as { images: (ImageRow & { distance: number })[] }).images.map((i) => [i.url.replace(site.origin, ''), i.distance] as const);
      };
      const near = await similar(10);
      expect(near.map(([u]) => u), 'the resized WebP copy is within 10 bits').to.deep.equal(['/img/listed-2.webp']);
      const all = await similar(64);
      for (const [url, distance] of all.filter(([u]) => u !== '/img/listed-2.webp')) expect(distance, `${url} is another picture`).to.be.above(20);
      // GraphQL has the same: the hash and the near-duplicates of an image.
      const gql = await fetch(`${api}/graphql`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ query: `{ image(id: "${home.id}") { phash similar(maxDistance: 10, sessionId: \"${id}\") { url } } }` }),
      });
      const answer = (await gql.json()) as { data?: { image: { phash: string; similar: { url: string }[] } }; errors?: unknown };
      expect(answer.errors, JSON.stringify(answer.errors)).to.equal(undefined);
      expect(answer.data?.image.phash).to.equal(home.metadata?.phash);
      expect(answer.data?.image.similar.map((i) => i.url.replace(site.origin, ''))).to.include('/img/listed-2.webp');
      const bad = await fetch(`${api}/api/images/${home.id}/similar?maxDistance=65`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(bad.status).to.equal(400);

      // The export carries the hash.
      const configFile = writeConfigFile(t.rt.config);
      const out = await runCli(['export', '--session', id, '--config', configFile]);
      expect(out.code, out.stderr).to.equal(0);
      const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.find((l) => l.url.endsWith('/img/home.png')).phash).to.equal(home.metadata?.phash);
    } finally {
      server.close();
      await t.close();
    }
  });

  it("loads a plugin module from the config: its pages, metadata and alerts arrive; a failing plugin costs a log line and a metric, never an image", async () => {
    const alertFile = path.join(tempDir('alerts'), 'alerts.jsonl');
    const config = testConfig({
      plugins: [
        { module: 'sitemaps', enabled: false },
        { module: 'phash' },
        { module: path.join(FIXTURES, 'example-plugin.mjs'), options: { alertFile } },
        { module: path.join(FIXTURES, 'failing-plugin.cjs') },
      ],
    });
    const t = await startTestRuntime(config);
    try {
      expect(t.rt.plugins.names.map((n) => path.basename(n))).to.deep.equal(['render', 'phash', 'example-plugin.mjs', 'failing-plugin.cjs']);
      const firstRequest = site.requests.length;
      const { id } = await t.rt.sessions.start({ urls: [`${site.origin}/`] });
      expect((await t.waitForSession(id)).status).to.equal('completed');
      const rows = await rowsOf(t, id);
      expect(rows.map((r) => [r.url.replace(site.origin, ''), r.status, r.discovered_via])).to.deep.equal([
        ['/img/gallery-1.jpg', 'stored', 'example-plugin'],
        ['/img/home.png', 'stored', 'img'],
      ]);
      for (const r of rows) expect(r.metadata).to.include({ orientation: 'landscape' }).and.to.have.property('phash');
      expect(site.requests.slice(firstRequest).filter((r) => r.startsWith('/sitemaps/')), 'sitemaps turned off').to.deep.equal([]);

      await new AlertSender(t.rt.redis, config.redis.prefix, config.alerts, t.rt.plugins).send([{ kind: 'disk_space', node: 'host-a', message: 'test alert', cooldownS: 60 }]);
      await waitFor('the example plugin wrote the alert', () => fs.existsSync(alertFile) && fs.readFileSync(alertFile, 'utf8').includes('"test alert"'));

      const metrics = await t.rt.metrics.registry.metrics();
      for (const hook of ['processPage', 'processImage', 'notify']) {
        expect(metrics, hook).to.match(new RegExp(`image_crawler_plugin_errors_total\\{plugin="[^"]*failing-plugin.cjs",hook="${hook}"\\} [1-9]`));
      }
    } finally {
      await t.close();
    }
  });

  it('refuses to start with a plugin that cannot be found, exports no factory, or refuses its options', async () => {
    const cases: [object, RegExp][] = [
      [{ module: path.join(FIXTURES, 'no-such-plugin.mjs') }, /plugin .*no-such-plugin\.mjs cannot be loaded/],
      [{ module: path.join(FIXTURES, '../../support/wait-for.ts') }, /exports no factory|cannot be loaded/],
      [{ module: path.join(FIXTURES, 'example-plugin.mjs'), options: {} }, /plugin .*example-plugin\.mjs: options\.alertFile is required/],
      [{ module: 'sitemaps', options: { max_urls: -1 } }, /plugin sitemaps: sitemaps: options\.max_urls must be a positive integer/],
    ];
    for (const [entry, message] of cases) {
      const err = await startError(testConfig({ plugins: [entry] }));
      expect(err, JSON.stringify(entry)).to.be.instanceOf(ConfigError);
      expect((err as Error).message).to.match(message);
    }
  });

  it('keeps the image files in the store a plugin offers (storage.backend: plugin), and refuses a store it cannot use', async () => {
    const memory = { module: path.join(FIXTURES, 'memory-store.mjs'), options: { name: 'crawl' } };
    const t = await startTestRuntime(testConfig({ storage: { backend: 'plugin' }, plugins: [memory] }));
    try {
      expect(t.rt.store.location).to.equal('memory:crawl');
      const { id } = await t.rt.sessions.start({ urls: [`${site.origin}/orphan-1.html`, `${site.origin}/orphan-2.html`] });
      expect((await t.waitForSession(id)).status).to.equal('completed');
      const stored = (await rowsOf(t, id)).filter((r) => r.status === 'stored');
      expect(stored.map((r) => new URL(r.url).pathname)).to.include.members(['/img/orphan-1.png', '/img/orphan-2.png']);
      for (const row of stored) expect(await t.rt.store.check(row.file_path as string, Number(row.file_size)), row.url).to.equal('ok');
      expect(fs.existsSync(path.join(t.rt.config.storage.data_dir, 'images'))).to.equal(false);
    } finally {
      await t.close();
    }
    const refused: [Record<string, unknown>, object[], RegExp][] = [
      [{ backend: 'plugin' }, [], /storage.backend is plugin: no plugin offers an image store/],
      [{ backend: 'plugin' }, [memory, { module: path.join(FIXTURES, 'memory-store.mjs'), options: { name: 'second' } }], /several plugins offer one/],
      [{}, [memory], /offers an image store, but storage.backend is local/],
    ];
    for (const [storage, plugins, message] of refused) {
      const err = await startError(testConfig({ storage, plugins }));
      expect(err, message.source).to.be.instanceOf(ConfigError);
      expect((err as Error).message).to.match(message);
    }
  });
});
