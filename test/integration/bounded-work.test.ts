import { expect } from 'chai';
import sharp from 'sharp';
import { startLocalServer } from '../../src/demo/local-server';
import type { ImageRow } from '../../src/db/image-repository';
import { startNodeNamed, stopNode } from '../../src/ha/local-cluster';
import { FrontierSweeper } from '../../src/workers/frontier-sweeper';
import { startTestCluster } from '../support/cluster-helpers';
import { startServer } from '../support/hostile-server';
import { startTestRuntime, testConfig, uniquePrefix } from '../support/test-env';
import { waitFor } from '../support/wait-for';

const tinyPng = () => sharp({ create: { width: 4, height: 4, channels: 3, background: '#369' } }).png().toBuffer();


describe('bounded work: traps end, waits free the worker, every URL is asked for a bounded number of times', function () {
  this.timeout(90_000);

  it('cuts an endless @import chain at its depth limit and records the cut; stylesheets count against the session budget', async () => {
    const png = await tinyPng();
    const requested: string[] = [];
    const server = await startLocalServer((req, res) => {
      const path = req.url ?? '';
      requested.push(path);
      const chain = /^\/chain\/(\d+)\.css$/.exec(path);
      if (path === '/') {
        res.writeHead(200, { 'Content-Type': 'text/html' }).end('<link rel=stylesheet href="/chain/0.css"><img src="/a.png">');
      } else if (path === '/many') {
        const sheets = Array.from({ length: 12 }, (_, i) => `<link rel="stylesheet" href="/many/${i}.css">`).join('');
        res.writeHead(200, { 'Content-Type': 'text/html' }).end(sheets);
      } else if (chain) {
        const n = Number(chain[1]);
        res.writeHead(200, { 'Content-Type': 'text/css' }).end(`@import "/chain/${n + 1}.css"; .c${n} { background: url(/bg${n}.png) }`);
      } else if (path.startsWith('/many/')) {
        res.writeHead(200, { 'Content-Type': 'text/css' }).end('.x { color: red }');
      } else if (path.endsWith('.png')) {
        res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
      } else res.writeHead(404).end();
    });
    const t = await startTestRuntime(testConfig({ crawler: { max_import_depth: 3 } }));
    try {
      const chained = await t.rt.sessions.start({ urls: [`${server.origin}/`], maxPages: 1, maxDepth: 0 });
      expect(await t.waitForSession(chained.id)).to.include({ status: 'completed', images_stored: 5 }); // a.png, bg0…bg3
      const sheets = await t.rt.knex('pages').where({ session_id: chained.id, kind: 'stylesheet' }).orderBy('id');
      // Depth 0 (the page's own sheet) plus three levels of @import; the fifth is recorded, not fetched.
      expect(requested.filter((p) => p.startsWith('/chain/'))).to.deep.equal(['/chain/0.css', '/chain/1.css', '/chain/2.css', '/chain/3.css']);
      expect(sheets.find((s: { url: string }) => s.url.endsWith('/chain/4.css'))).to.include({ status: 'skipped', error: '@import nested deeper than 3' });

      const many = await t.rt.sessions.start({ urls: [`${server.origin}/many`], maxStylesheets: 8 });
      expect(await t.waitForSession(many.id)).to.include({ status: 'completed' });
      const rows = await t.rt.knex('pages').where({ session_id: many.id, kind: 'stylesheet' });
      expect(rows.filter((s: { status: string }) => s.status === 'crawled')).to.have.length(8);
      expect(rows.filter((s: { status: string; error: string }) => s.status === 'skipped' && s.error === 'over the stylesheet budget of 8')).to.have.length(4);
      expect(requested.filter((p) => p.startsWith('/many/'))).to.have.length(8);
    } finally {
      await t.close();
      await server.close();
    }
  });

  it('a Crawl-delay does not hold worker slots: another host is served meanwhile', async () => {
    const png = await tinyPng();
    const times: { path: string; host: 'slow' | 'fast'; at: number }[] = [];
    const fast = await startLocalServer((req, res) => {
      times.push({ path: req.url ?? '', host: 'fast', at: Date.now() });
      res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
    });
    const slow = await startLocalServer((req, res) => {
      const path = req.url ?? '';
      times.push({ path, host: 'slow', at: Date.now() });
      if (path === '/robots.txt') res.writeHead(200, { 'Content-Type': 'text/plain' }).end('User-agent: *\nCrawl-delay: 2\n');
      else if (path === '/') {
        const own = Array.from({ length: 4 }, (_, i) => `<img src="/s${i}.png">`).join('');
        const other = Array.from({ length: 6 }, (_, i) => `<img src="${fast.origin}/f${i}.png">`).join('');
        res.writeHead(200, { 'Content-Type': 'text/html' }).end(own + other);
      } else res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
    });
    // Two download slots: before, both slept in the slow host's Crawl-delay and the fast host waited.
    const t = await startTestRuntime(testConfig({ worker: { download_concurrency: 2 } }));
    try {
      const { id } = await t.rt.sessions.start({ urls: [`${slow.origin}/`] });
      const view = await t.waitForSession(id);
      expect(view).to.include({ status: 'completed', images_stored: 10 });
      const slowImages = times.filter((x) => x.host === 'slow' && x.path.endsWith('.png')).map((x) => x.at);
      const fastImages = times.filter((x) => x.host === 'fast' && x.path.endsWith('.png')).map((x) => x.at);
      expect(fastImages).to.have.length(6);
      // Every image of the fast host came before the slow host's second image (2 s after its first).
      expect(Math.max(...fastImages)).to.be.lessThan(slowImages.sort()[1]);
      // …and the slow host still got its gaps.
      for (let i = 1; i < slowImages.length; i++) expect(slowImages[i] - slowImages[i - 1]).to.be.greaterThanOrEqual(1900);
    } finally {
      await t.close();
      await fast.close();
      await slow.close();
    }
  });

  it('asks for a failing URL at most `attempts` times in all, even when its job is lost and enqueued again', async () => {
    const server = await startServer({
      '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<img src="/reset.png"><img src="/closed.png"><img src="/hang.png">'),
      '/reset.png': (_q, res) => {
        res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': '1000' });
        res.write(Buffer.alloc(10));
        setTimeout(() => res.destroy(), 20);
      },
      '/closed.png': (q) => q.socket.destroy(),
      '/hang.png': () => undefined,
    });
    const t = await startTestRuntime(testConfig({ worker: { attempts: 3 }, crawler: { request_timeout_ms: 500 } }));
    try {
      const { id } = await t.rt.sessions.start({ urls: [`${server.origin}/`] });
      await t.waitForSession(id);
      const count = (p: string) => server.requests.filter((r) => r === p).length;
      for (const p of ['/reset.png', '/closed.png', '/hang.png']) expect(count(p), p).to.equal(3);

      // The job of /reset.png is lost after its row was put back to pending (as when the database
      // went away before the outcome was written): the sweeper's re-queue runs it again, and the
      // URL's count of requests stops it without another fetch.
      await t.rt.knex('crawl_sessions').where({ id }).update({ status: 'running' });
      await t.rt.knex('images').where({ session_id: id, url: `${server.origin}/reset.png` }).update({ status: 'pending', error: null });
      const [row] = await t.rt.knex('images').where({ session_id: id, url: `${server.origin}/reset.png` });
      await t.rt.queues.requeue(id, [], [{ url: row.url, via: row.discovered_via, pageUrl: row.page_url }]);
      await waitFor('the re-queued job records its URL as given up', async () => {
        const [r] = await t.rt.knex('images').where({ id: row.id });
        return r.status === 'failed';
      });
      const [after] = await t.rt.knex<ImageRow>('images').where({ id: row.id });
      expect(after.error).to.match(/gave up after 3 attempts/);
      expect(count('/reset.png')).to.equal(3);
    } finally {
      await t.close();
      await server.close();
    }
  });

  it('a session is created with its start URLs at once: a sweeper racing start never completes it empty', async () => {
    const server = await startServer({ '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<p>hello</p>') });
    const config = testConfig();
    const t = await startTestRuntime(config, false); // no workers: nothing but the sweeper's check moves the sessions
    let racing = true;
    // What the sweeper does for every active session, done to the newest one, in four loops as fast as they go.
    const sweepLoop = async () => {
      while (racing) {
        const newest = await t.rt.knex('crawl_sessions').where({ status: 'running' }).orderBy('started_at', 'desc').first('id');
        if (newest) await t.rt.sessions.finishIfDrained(newest.id);
      }
    };
    const race = Promise.all([sweepLoop(), sweepLoop(), sweepLoop(), sweepLoop(), new FrontierSweeper(t.rt).sweep()]);
    const ids: string[] = [];
    try {
      for (let i = 0; i < 100; i++) ids.push((await t.rt.sessions.start({ urls: [`${server.origin}/?n=${i}`] })).id);
      racing = false;
      await race;
      const rows = await t.rt.knex('crawl_sessions').whereIn('id', ids).select('id', 'status');
      expect(rows.filter((r: { status: string }) => r.status !== 'running')).to.deep.equal([]);
    } finally {
      racing = false;
      await race;
      // Left running, these would be every later test's sessions to sweep (no worker drains them).
      await t.rt.knex('crawl_sessions').whereIn('id', ids).update({ status: 'stopped' });
      await t.close();
      await server.close();
    }
  });

  it('the sweeper enqueues again only URLs whose jobs are gone: a URL still waiting in a slow queue keeps its job and is not reported', async () => {
    const t = await startTestRuntime(testConfig({ worker: { orphan_after_ms: 1 } }), false);
    let id = '';
    try {
      ({ id } = await t.rt.sessions.start({ urls: ['http://127.0.0.1:9/waiting', 'http://127.0.0.1:9/lost'] }));
      const jobs = await t.rt.queues.crawl.getWaiting();
      expect(jobs.map((j) => j.data.url).sort()).to.deep.equal(['http://127.0.0.1:9/lost', 'http://127.0.0.1:9/waiting']);
      const lost = jobs.find((j) => j.data.url.endsWith('/lost'));
      await lost?.remove();
      await waitFor('both pending rows idle for orphan_after_ms', async () =>
        (await t.rt.knex('pages').where({ session_id: id, status: 'pending' }).andWhere('updated_at', '<', t.rt.knex.raw(`now() - interval '5 milliseconds'`))).length === 2,
      );
      expect((await new FrontierSweeper(t.rt).sweep())?.get(id), 'URLs enqueued again').to.equal(1);
      const after = await t.rt.queues.crawl.getWaiting();
      expect(after.map((j) => [j.data.url, j.data.requeued ?? false]).sort()).to.deep.equal([
        ['http://127.0.0.1:9/lost', true],
        ['http://127.0.0.1:9/waiting', false],
      ]);
    } finally {
      await t.rt.knex('crawl_sessions').where({ id }).update({ status: 'stopped' });
      await t.close();
    }
  });

  it('a bug met by every run of a job fails its URL with the error instead of holding the session open', async () => {
    const server = await startServer({ '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<p>x</p>') });
    const config = testConfig({ worker: { attempts: 2 } });
    const starter = await startTestRuntime(config, false);
    try {
      const { id } = await starter.rt.sessions.start({ urls: [`${server.origin}/`] });
      // A session row our code cannot read (include is not a list): CrawlScope throws a TypeError.
      await starter.rt.knex('crawl_sessions').where({ id }).update({ options: starter.rt.knex.raw(`jsonb_set(options, '{include}', '5')`) });
      const worker = await startTestRuntime({ ...config, storage: { ...config.storage } });
      try {
        const view = await worker.waitForSession(id, 30_000);
        expect(view).to.include({ status: 'completed', pages_failed: 1 });
        const [page] = await worker.rt.knex('pages').where({ session_id: id });
        expect(page.error).to.match(/^gave up: internal error: .*map is not a function/);
        expect(worker.rt.infraGate.state(Date.now()).open).to.equal(true); // the bug closed no gate
      } finally {
        await worker.close();
      }
    } finally {
      await starter.close();
      await server.close();
    }
  });

  it('applies the network permissions the session was started with in every worker', async () => {
    const png = await tinyPng();
    const server = await startServer({
      '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<img src="/a.png">'),
      '/a.png': (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png),
    });
    const prefix = uniquePrefix();
    // The operator's CLI opened 127.0.0.0/8; a worker elsewhere runs with the defaults (nothing private).
    const starter = await startTestRuntime(testConfig({ redis: { prefix }, crawler: { allow_nets: ['127.0.0.0/8'] } }), false);
    const worker = await startTestRuntime(testConfig({ redis: { prefix }, crawler: { allow_nets: [] } }));
    try {
      const { id, options } = await starter.rt.sessions.start({ urls: [`${server.origin}/`] });
      expect(options.network).to.deep.equal({ allowPrivate: false, allowNets: ['127.0.0.0/8'] });
      const view = await worker.waitForSession(id);
      expect(view).to.include({ status: 'completed', pages_crawled: 1, images_stored: 1 });
    } finally {
      await worker.close();
      await starter.close();
      await server.close();
    }
  });
});

describe('sessions always end: the database away for longer than the retry budget', function () {
  this.timeout(180_000);

  it('jobs that gave up waiting are enqueued again by the sweeper; every image is stored once', async () => {
    const png = await tinyPng();
    const images = Array.from({ length: 30 }, (_, i) => `/i${i}.png`);
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const server = await startServer({
      '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(images.map((p) => `<img src="${p}">`).join('')),
      ...Object.fromEntries(
        images.map((p) => [
          p,
          (_q: unknown, res: import('node:http').ServerResponse) => {
            // The first answers wait until the database is gone, so their jobs meet the outage.
            void held.then(() => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png));
          },
        ]),
      ),
    });
    const cluster = await startTestCluster({
      ha: { auto_failover: false },
      worker: { attempts: 3, infra_retries: 2, sweep_interval_ms: 500, orphan_after_ms: 2000 },
      crawler: { request_timeout_ms: 60_000 },
      database: { connection_timeout_s: 1 },
    });
    const t = await startTestRuntime(cluster.config);
    try {
      const { id } = await t.rt.sessions.start({ urls: [`${server.origin}/`] });
      await waitFor('image requests arrive', () => server.requests.filter((r) => r.endsWith('.png')).length >= 10);
      await stopNode(cluster.dir, cluster.port, 'node1', 'immediate');
      release();
      // Each job is postponed twice, then fails an attempt, three times over: then BullMQ gives up on it.
      await waitFor(
        'jobs give up waiting for the database',
        async () => (await t.rt.queues.download.getJobCounts('failed')).failed > 0,
        60_000,
      );
      await startNodeNamed(cluster.dir, cluster.port, 'node1');
      const view = await t.waitForSession(id, 90_000);
      expect(view.status).to.equal('completed');
      const rows = await t.rt.knex<ImageRow>('images').where({ session_id: id });
      expect(rows).to.have.length(images.length);
      expect(rows.filter((r) => r.status !== 'stored').map((r) => `${r.url}: ${r.status} ${r.error}`)).to.deep.equal([]);
    } finally {
      await t.close();
      await server.close();
      await cluster.close();
    }
  });
});
