import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createApp } from '../../src/api/app';
import { RunningSite, startSyntheticSite } from '../../src/demo/synthetic-site';
import { spawnCli, writeConfigFile } from '../support/cli';
import { freePort } from '../support/ports';
import { TestRuntime, startTestRuntime, testConfig } from '../support/test-env';
import { waitFor } from '../support/wait-for';

const TOKEN = 'metrics-token-0123456789abcdef';

/** name{labels} → value, from Prometheus' text format. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('Prometheus metrics', function () {
  this.timeout(60_000);
  let t: TestRuntime;
  let site: RunningSite;
  let server: Server;
  let base: string;

  before(async () => {
    site = await startSyntheticSite({ pages: 6, imagesPerPage: 5, minImageBytes: 800, maxImageBytes: 2000, seed: 61, specials: false });
    t = await startTestRuntime();
    server = createApp(t.rt, TOKEN).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.close();
    await t?.close();
    await site?.close();
  });

  const scrape = async (token: string | null = TOKEN) => {
    const res = await fetch(`${base}/metrics`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    return { status: res.status, type: res.headers.get('content-type') ?? '', metrics: parseMetrics(await res.text()) };
  };

  it('needs the token', async () => {
    expect((await scrape(null)).status).to.equal(401);
  });

  it("counts this process's work and reads the cluster's state when scraped", async () => {
    const { id } = await t.rt.sessions.start({ urls: [site.startUrl] });
    const view = await t.waitForSession(id);
    expect(view.status).to.equal('completed');
    const { status, type, metrics: m } = await scrape();
    expect(status).to.equal(200);
    expect(type).to.match(/^text\/plain; version=0\.0\.4/);
    expect(m.get('image_crawler_pages_total{state="crawled"}')).to.equal(view.pages_crawled);
    expect(m.get('image_crawler_images_total{state="stored"}')).to.equal(view.images_stored);
    expect(m.get('image_crawler_images_total{state="found"}')).to.equal(view.images_found);
    expect(m.get('image_crawler_bytes_downloaded_total')).to.equal(Number(view.bytes_downloaded));
    expect(m.get('image_crawler_fetch_duration_seconds_count{kind="image",outcome="ok"}')).to.be.at.least(view.images_stored);
    expect(m.get('image_crawler_fetch_duration_seconds_count{kind="page",outcome="ok"}')).to.be.at.least(view.pages_crawled);
    expect(m.get('image_crawler_queue_jobs{queue="download",state="waiting"}')).to.equal(0);
    expect(m.get('image_crawler_db_node_up{node="default",role="primary"}')).to.equal(1);
    const free = m.get('image_crawler_disk_free_ratio') as number;
    expect(free).to.be.greaterThan(0).and.at.most(1);
    expect(m.get('image_crawler_store_bytes')).to.be.greaterThan(0);
    expect(m.get('image_crawler_process_resident_memory_bytes')).to.be.greaterThan(0);
  });

  it('worker --metrics-port serves them too, behind the token', async function () {
    this.timeout(60_000);
    const port = await freePort();
    const config = testConfig({ api: { token: TOKEN } });
    const worker = spawnCli(['worker', '--metrics-port', String(port), '--config', writeConfigFile(config)]);
    try {
      const url = `http://127.0.0.1:${port}/metrics`;
      const text = await waitFor(
        'the worker serves /metrics',
        () => fetch(url, { headers: { Authorization: `Bearer ${TOKEN}` } }).then((r) => (r.ok ? r.text() : null), () => null),
        30_000,
      );
      expect(parseMetrics(text).has('image_crawler_queue_jobs{queue="crawl",state="active"}')).to.equal(true);
      expect((await fetch(url)).status).to.equal(401);
    } finally {
      worker.kill('SIGTERM');
      await once(worker, 'exit');
    }
  });
});

describe('the Grafana dashboard in ops/', () => {
  it('asks only for metrics the processes export', async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const dashboard = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../ops/grafana-dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const asked = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/image_crawler_[a-z_]+/g) ?? [])));
    const t = await startTestRuntime(testConfig(), false);
    try {
      const exported = new Set((await t.rt.metrics.registry.getMetricsAsJSON()).map((m) => m.name));
      const missing = [...asked].filter((name) => !exported.has(name.replace(/_(bucket|count|sum)$/, '')));
      expect(missing).to.deep.equal([]);
      expect(asked.size).to.be.greaterThan(10);
    } finally {
      await t.close();
    }
  });
});
