/// <reference lib="dom" />
import fs from 'node:fs';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import { Browser, Page, chromium } from 'playwright-core';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { createApp } from '../../src/api/app';
import { RunningSite, startSyntheticSite } from '../../src/demo/synthetic-site';
import { HaManager } from '../../src/ha/ha-manager';
import { stopNode } from '../../src/ha/local-cluster';
import { TestCluster, startTestCluster } from '../support/cluster-helpers';
import { TEST_REDIS_URL, TestRuntime, startTestRuntime, tempDir } from '../support/test-env';

const TOKEN = 'console-token-0123456789abcdef';
/** Debian's chromium (installed by .ci/run); CHROMIUM_PATH overrides. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));

/** A screenshot that shows something: not one flat colour (a blank or failed page is). */
async function expectContent(file: string): Promise<void> {
  const stats = await sharp(file).stats();
  const spread = Math.max(...stats.channels.map((c) => c.stdev));
  expect(spread, `${path.basename(file)} looks blank`).to.be.greaterThan(8);
}

describe('web console in a real browser (Chromium)', function () {
  this.timeout(120_000);
  let t: TestRuntime;
  let site: RunningSite;
  let server: Server;
  let base: string;
  let browser: Browser;
  let page: Page;
  const shots = tempDir('screenshots');

  before(async function () {
    if (!CHROMIUM) throw new Error('no chromium found: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH');
    site = await startSyntheticSite({ pages: 6, imagesPerPage: 6, minImageBytes: 1500, maxImageBytes: 4000, seed: 71, specials: true, slowMs: 50, slowSucceeds: true });
    t = await startTestRuntime();
    server = createApp(t.rt, TOKEN).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    server?.close();
    await t?.close();
    await site?.close();
  });

  it('signs in with the form: the cookie is a session, not the token', async () => {
    await page.goto(`${base}/`);
    expect(new URL(page.url()).pathname).to.equal('/login');
    await page.fill('input[name=token]', 'wrong-token-0000000000');
    await page.click('button[type=submit]');
    expect(await page.textContent('.error')).to.contain('not an API token');
    await page.fill('input[name=token]', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/`);
    const cookies = await page.context().cookies();
    expect(cookies.map((c) => c.name)).to.include('image_crawler_session');
    expect(cookies.every((c) => !c.value.includes(TOKEN) && c.httpOnly)).to.equal(true);
  });

  it('starts a crawl from the form and shows its counters moving without a reload', async () => {
    await page.goto(`${base}/`);
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));
    await page.fill('textarea[name=urls]', site.startUrl);
    await page.click('#start button[type=submit]');
    await page.waitForFunction(() => /started/.test(document.querySelector('#start-result')?.textContent ?? ''), undefined, { timeout: 10_000 });
    const sessionId = ((await page.textContent('#start-result')) ?? '').replace('started ', '').trim();
    const row = `#sessions tr[data-session="${sessionId}"]`;
    // The row fills from the event stream: running, then completed, with every valid image stored.
    await page.waitForSelector(`${row} td.status-completed`, { timeout: 60_000 });
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).to.equal(true);
    const valid = [...site.expected.values()].filter((e) => e.ok).length;
    expect(await page.textContent(`${row} td[data-field=images]`)).to.equal(`${valid} / ${site.expected.size}`);
    await page.screenshot({ path: path.join(shots, 'sessions.png') });
    await expectContent(path.join(shots, 'sessions.png'));

    // Its page: the counts, and the failures grouped by reason.
    await page.click(`${row} a`);
    await page.waitForSelector('#failures .failure');
    const failedUrls = [...site.expected.values()].filter((e) => !e.ok).map((e) => e.url);
    const listed = await page.$$eval('#failures li', (lis) => lis.map((li) => li.textContent));
    expect(listed).to.include.members(failedUrls);
    expect(await page.textContent('dd[data-field=status]')).to.equal('completed');
    await page.screenshot({ path: path.join(shots, 'session.png') });
    await expectContent(path.join(shots, 'session.png'));
  });

  it('fills the gallery with thumbnails, filters it, and opens an image with where it was found', async () => {
    await page.goto(`${base}/gallery`);
    await page.waitForFunction(() => document.querySelectorAll('#gallery img').length > 0);
    await page.waitForFunction(() => Array.from(document.querySelectorAll<HTMLImageElement>('#gallery img')).every((i) => i.complete && i.naturalWidth > 0), undefined, { timeout: 20_000 });
    await page.screenshot({ path: path.join(shots, 'gallery.png') });
    await expectContent(path.join(shots, 'gallery.png'));

    await page.selectOption('select[name=format]', 'png');
    await Promise.all([page.waitForURL(/format=png/), page.click('#filters button[type=submit]')]);
    await page.waitForFunction(() => document.querySelectorAll('#gallery a').length > 0);
    const labels = await page.$$eval('#gallery a span', (spans) => spans.map((s) => s.textContent ?? ''));
    expect(labels.length).to.be.greaterThan(0);
    expect(labels.every((l) => l.startsWith('png'))).to.equal(true);

    await Promise.all([page.waitForURL(/\/images\/\d+$/), page.click('#gallery a')]);
    await page.waitForSelector('#found tbody tr');
    const meta = await page.textContent('#meta');
    expect(meta).to.match(/sha256[0-9a-f]{64}/);
    expect(await page.$$eval('#found tbody tr', (rows) => rows.length)).to.be.greaterThan(0);
  });

  it('shows the cluster page (one database here) with a link to the queues', async () => {
    await page.goto(`${base}/cluster`);
    await page.waitForSelector('#ha');
    expect(await page.textContent('#ha')).to.contain('One database');
    expect(await page.getAttribute('a[href="/admin/queues"]', 'href')).to.equal('/admin/queues');
  });

  it('a ?token= link signs a new browser in and leaves no token in the address', async () => {
    const fresh = await browser.newPage();
    try {
      await fresh.goto(`${base}/gallery?token=${TOKEN}`);
      expect(fresh.url()).to.equal(`${base}/gallery`);
      await fresh.waitForSelector('#gallery');
    } finally {
      await fresh.close();
    }
  });
});

describe('web console: the cluster page sees a failover', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  let t: TestRuntime;
  let server: Server;
  let browser: Browser;
  let redis: Redis;

  before(async () => {
    if (!CHROMIUM) throw new Error('no chromium found: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH');
    cluster = await startTestCluster({ ha: { failure_threshold: 2, confirm_interval_ms: 200, probe_connect_timeout_ms: 500 } });
    redis = new Redis(TEST_REDIS_URL);
    await new HaManager(cluster.config, redis).check(); // node1 recorded as the primary
    t = await startTestRuntime(cluster.config, false);
    server = createApp(t.rt, TOKEN).listen(0, '127.0.0.1');
    await once(server, 'listening');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  });
  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    server?.close();
    await t?.close();
    redis?.disconnect();
    await cluster?.close();
  });

  it('shows the nodes, then the new primary and the failover when the primary dies', async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/cluster?token=${TOKEN}`);
    await page.waitForSelector('#ha table');
    expect(await page.textContent('#ha')).to.match(/primary node1/);
    expect(await page.$$eval('#ha tbody tr', (rows) => rows.map((r) => r.textContent))).to.have.length(2);

    await stopNode(cluster.dir, cluster.port, 'node1', 'immediate');
    const manager = new HaManager(cluster.config, redis);
    let failover = null;
    for (let i = 0; i < 6 && !failover; i++) failover = (await manager.check()).failover;
    expect(failover).to.deep.include({ to: 'node2', outcome: 'success' });
    // The page hears the new term on its event stream and shows the new state by itself.
    await page.waitForFunction(() => /primary node2/.test(document.querySelector('#ha')?.textContent ?? ''), undefined, { timeout: 20_000 });
    await page.waitForSelector('#failovers tr');
    expect(await page.textContent('#failovers')).to.contain('node1 → node2');
  });
});
