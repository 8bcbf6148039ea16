import { expect } from 'chai';
import sharp from 'sharp';
import type { ImageRow } from '../../src/db/image-repository';
import type { DownloadBatchData, DownloadJobData } from '../../src/queues/job-types';
import { startServer } from '../support/hostile-server';
import { startTestRuntime, testConfig } from '../support/test-env';

const png = (n: number) => sharp({ create: { width: 4, height: 4, channels: 3, background: { r: n % 256, g: (n >> 8) % 256, b: 7 } } }).png().toBuffer();

/** Download jobs carry the new images of a page in batches; each URL is still retried and counted on its own. */
describe('download batches', function () {
  this.timeout(60_000);

  it("puts a page's new images in jobs of worker.download_batch; a failing URL alone is fetched again, as a job of its own", async () => {
    const names = Array.from({ length: 30 }, (_, i) => `/i${i}.png`);
    const bodies = await Promise.all(names.map((_, i) => png(1000 + i)));
    let flakyCalls = 0;
    const server = await startServer({
      '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end([...names, '/flaky.png', '/gone.png'].map((p) => `<img src="${p}">`).join('')),
      ...Object.fromEntries(names.map((p, i) => [p, (_q: unknown, res: import('node:http').ServerResponse) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(bodies[i])])),
      '/flaky.png': (_q, res) => {
        if (flakyCalls++ === 0) res.writeHead(500, { 'Content-Type': 'text/plain' }).end('try again');
        else res.writeHead(200, { 'Content-Type': 'image/png' }).end(bodies[0]);
      },
      '/gone.png': (_q, res) => res.writeHead(404, { 'Content-Type': 'text/plain' }).end('gone'),
    });
    const t = await startTestRuntime(testConfig({ worker: { download_batch: 8, attempts: 3 } }));
    try {
      const { id } = await t.rt.sessions.start({ urls: [`${server.origin}/`] });
      const view = await t.waitForSession(id);
      expect(view).to.include({ status: 'completed', images_found: 32, images_stored: 31, images_failed: 1 });

      const rows = await t.rt.knex<ImageRow>('images').where({ session_id: id });
      expect(rows.filter((r) => r.status === 'failed').map((r) => [new URL(r.url).pathname, r.http_status])).to.deep.equal([['/gone.png', 404]]);
      const counts = new Map<string, number>();
      for (const r of server.requests) counts.set(r, (counts.get(r) ?? 0) + 1);
      expect(counts.get('/flaky.png'), 'the failing URL: its first try and one retry').to.equal(2);
      expect([...counts].filter(([p, n]) => p !== '/flaky.png' && n !== 1), 'every other URL is asked for once').to.deep.equal([]);

      const jobs = await t.rt.queues.download.getJobs(['completed']);
      const batches = jobs.filter((j) => j.name === 'batch').map((j) => (j.data as DownloadBatchData).images.length);
      expect(batches.sort((a, b) => a - b), '32 URLs in jobs of at most 8').to.deep.equal([8, 8, 8, 8]);
      const singles = jobs.filter((j) => j.name === 'image').map((j) => j.data as DownloadJobData);
      expect(singles.map((d) => [new URL(d.url).pathname, d.requeued]), 'the retry runs as a job of its own, counted as the second attempt').to.deep.equal([['/flaky.png', true]]);
    } finally {
      await t.close();
      await server.close();
    }
  });

  it('a host that cannot take a request yet does not use an attempt: with a politeness delay every image of a batch is stored, each asked for once', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `/p${i}.png`);
    const bodies = await Promise.all(names.map((_, i) => png(2000 + i)));
    const server = await startServer({
      '/': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(names.map((p) => `<img src="${p}">`).join('')),
      ...Object.fromEntries(names.map((p, i) => [p, (_q: unknown, res: import('node:http').ServerResponse) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(bodies[i])])),
    });
    // attempts: 1 — had a wait for the host counted as an attempt, the waiting URLs would fail.
    const t = await startTestRuntime(testConfig({ worker: { download_batch: 16, attempts: 1 } }));
    try {
      const { id } = await t.rt.sessions.start({ urls: [`${server.origin}/`], politenessDelayMs: 300 });
      const view = await t.waitForSession(id);
      expect(view).to.include({ status: 'completed', images_found: 6, images_stored: 6, images_failed: 0 });
      expect(server.requests.filter((r) => r.endsWith('.png')).sort()).to.deep.equal([...names].sort());
    } finally {
      await t.close();
      await server.close();
    }
  });
});
