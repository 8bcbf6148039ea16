import path from 'node:path';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { expect } from 'chai';
import type { ImageRow } from '../../src/db/image-repository';
import { RunningSite, startSyntheticSite } from '../../src/demo/synthetic-site';
import { TestRuntime, startTestRuntime, testConfig } from '../support/test-env';

describe('crawl pipeline: a generated site crawled through the real queues', function () {
  this.timeout(120_000);
  let site: RunningSite;
  let t: TestRuntime;
  let sessionId: string;
  let rows: ImageRow[];

  before(async () => {
    site = await startSyntheticSite({ pages: 30, imagesPerPage: 12, minImageBytes: 2_000, maxImageBytes: 8_000, seed: 42, slowMs: 3000 });
    t = await startTestRuntime(testConfig({ crawler: { request_timeout_ms: 2000 } }));
    ({ id: sessionId } = await t.rt.sessions.start({ urls: [site.startUrl], maxDepth: 20 }));
    await t.waitForSession(sessionId);
    rows = await t.rt.knex<ImageRow>('images').where({ session_id: sessionId });
  });

  after(async () => {
    await t?.close();
    await site?.close();
  });

  it('the site has the advertised shape (a few hundred images in every form)', () => {
    expect(site.expected.size).to.be.greaterThan(400);
    expect(site.pages.size).to.be.greaterThan(30);
  });

  it('completes the session with consistent counts', async () => {
    const view = await t.rt.sessions.view(sessionId);
    const ok = [...site.expected.values()].filter((e) => e.ok).length;
    expect(view).to.include({ status: 'completed', images_stored: ok, images_failed: site.expected.size - ok, images_found: site.expected.size });
    expect(view?.pages_crawled).to.be.greaterThanOrEqual(site.pages.size);
    expect(view?.finished_at).to.be.instanceOf(Date);
    expect(view?.success_rate).to.be.closeTo(ok / site.expected.size, 1e-9);
  });

  it('records every reachable image exactly once, with the right hash, size and format', () => {
    expect(rows.length).to.equal(site.expected.size);
    const byUrl = new Map(rows.map((r) => [r.url, r]));
    expect(byUrl.size).to.equal(rows.length);
    for (const e of site.expected.values()) {
      const row = byUrl.get(e.url);
      expect(row, e.url).to.not.equal(undefined);
      if (!row) continue;
      if (e.ok) {
        expect(row, e.url).to.include({ status: 'stored', sha256: e.sha256, width: e.width, height: e.height, format: e.format, file_size: e.bytes });
        expect(row.filename).to.equal(`${e.sha256}.${row.file_path?.split('.').pop()}`);
      } else {
        expect(row.status, e.url).to.equal('failed');
        expect(row.http_status, e.url).to.equal(e.httpStatus);
      }
    }
  });

  it('keeps each stored file once, byte-identical to what the server sent', () => {
    for (const row of rows.filter((r) => r.status === 'stored')) {
      const body = fs.readFileSync(path.resolve(t.rt.config.storage.data_dir, 'images', row.file_path as string));
      expect(createHash('sha256').update(body).digest('hex'), row.url).to.equal(row.sha256);
    }
    const dups = rows.filter((r) => r.url.includes('/dup/'));
    expect(dups).to.have.length(3);
    expect(new Set(dups.map((r) => r.file_path)).size).to.equal(1);
  });

  it('records broken images with the reason', () => {
    const reason = (path: string) => rows.find((r) => r.url.endsWith(path))?.error ?? '';
    expect(reason('/missing/gone-1.png')).to.equal('HTTP 404');
    expect(reason('/images/fake.jpg')).to.match(/not an image: the server sent text\/html/);
    expect(reason('/private/hidden.png')).to.match(/disallowed by robots.txt/);
    expect(reason('/slow/pic.jpg')).to.match(/deadline|no response within/);
  });

  it('never requests what robots.txt disallows or what lies off-site', () => {
    const offending = site.requests.filter((r) => site.forbidden.has(r.path));
    expect(offending).to.deep.equal([]);
  });

  it('fetches each URL once (robots.txt once per host); only a failing endpoint is retried', () => {
    const counts = new Map<string, number>();
    for (const r of site.requests) counts.set(`${r.server} ${r.path}`, (counts.get(`${r.server} ${r.path}`) ?? 0) + 1);
    const repeated = [...counts].filter(([k, n]) => n > 1 && k !== 'site /slow/pic.jpg');
    expect(repeated).to.deep.equal([]);
    expect(counts.get('site /robots.txt')).to.equal(1);
    expect(counts.get('cdn /robots.txt')).to.equal(1);
    expect(counts.get('site /slow/pic.jpg')).to.equal(2); // attempts: 2
  });

  it('records every page, follows redirects as new pages and stops at the spider trap', async () => {
    const pages = await t.rt.knex('pages').where({ session_id: sessionId });
    const status = new Map(pages.map((p: { url: string; status: string }) => [p.url, p.status]));
    for (const url of site.pages) expect(status.get(url), url).to.equal('crawled');
    expect(status.get(`${site.origin}/old/start`)).to.equal('redirected');
    expect(status.get(`${site.origin}/old/middle`)).to.equal('redirected');
    expect(status.get(`${site.origin}/private/index.html`)).to.equal('failed');
    expect(status.has(`${site.cdnOrigin}/offsite.html`)).to.equal(false);
    const trap = pages.filter((p: { url: string }) => p.url.includes('/trap/'));
    expect(trap.length).to.be.within(1, 4);
  });
});

describe('crawl pipeline: stopping a session', function () {
  this.timeout(60_000);

  it('stop really stops: queued work is skipped and no further requests go out', async () => {
    const site = await startSyntheticSite({ pages: 200, imagesPerPage: 4, minImageBytes: 1000, maxImageBytes: 2000, seed: 3, specials: false });
    const t = await startTestRuntime();
    try {
      const { id } = await t.rt.sessions.start({ urls: [site.startUrl], politenessDelayMs: 20 });
      while (((await t.rt.sessions.view(id))?.images_stored ?? 0) < 10) await new Promise((r) => setTimeout(r, 20));
      await t.rt.sessions.stop(id);
      const view = await t.waitForSession(id, 20_000);
      expect(view.status).to.equal('stopped');
      expect(view.pending).to.equal(0);
      const requestsAtStop = site.requests.length;
      await new Promise((r) => setTimeout(r, 1000));
      expect(site.requests.length).to.equal(requestsAtStop);
      expect(view.images_stored).to.be.lessThan(site.expected.size);
      expect((await t.rt.queues.counts()).download.waiting).to.equal(0);
    } finally {
      await t.close();
      await site.close();
    }
  });
});

describe('crawl pipeline: the page budget', function () {
  this.timeout(60_000);

  it('crawls exactly maxPages pages however many jobs claim links at once; the rest are recorded as skipped', async () => {
    const site = await startSyntheticSite({ pages: 120, imagesPerPage: 1, minImageBytes: 500, maxImageBytes: 800, seed: 9, specials: false });
    const t = await startTestRuntime(testConfig({ worker: { crawl_concurrency: 8 } }));
    try {
      const { id } = await t.rt.sessions.start({ urls: [site.startUrl], maxPages: 25 });
      const view = await t.waitForSession(id);
      expect(view.status).to.equal('completed');
      const pages = await t.rt.knex('pages').where({ session_id: id, kind: 'page' });
      const crawled = pages.filter((p: { status: string }) => p.status !== 'skipped');
      const skipped = pages.filter((p: { status: string }) => p.status === 'skipped');
      expect(crawled).to.have.length(25);
      expect(skipped.length).to.be.greaterThan(0);
      expect(skipped[0].error).to.equal('over the page budget of 25');
      // (robots.txt and /sitemap.xml, which the sitemaps plugin asks for once, are not pages)
      const pageRequests = site.requests.filter((r) => r.server === 'site' && !/\.(png|jpe?g|gif|webp|css|txt|xml)(\?|$)/.test(r.path));
      expect(pageRequests).to.have.length(25);
      const session = await t.rt.knex('crawl_sessions').where({ id }).first('pages_claimed');
      expect(session.pages_claimed).to.equal(25);
    } finally {
      await t.close();
      await site.close();
    }
  });
});
