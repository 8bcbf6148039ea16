import { once } from 'node:events';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { RunningSite, startSyntheticSite } from '../../src/demo/synthetic-site';
import { runCli, writeConfigFile } from '../support/cli';
import { freePort } from '../support/ports';
import { deleteRedisPrefix, tempDir, testConfig } from '../support/test-env';

describe('command line', function () {
  this.timeout(90_000);
  let site: RunningSite;
  const config = testConfig({ crawler: { allow_nets: [] } });
  const configFile = writeConfigFile(config);

  before(async () => {
    site = await startSyntheticSite({ pages: 6, imagesPerPage: 5, minImageBytes: 1000, maxImageBytes: 2000, seed: 5, specials: false });
  });
  after(async () => {
    await site?.close();
    await deleteRedisPrefix(config.redis.prefix);
  });

  it('crawl runs the whole pipeline in one process and prints a JSON summary; export writes JSON lines', async () => {
    const dataDir = tempDir('cli');
    const crawl = await runCli(['crawl', site.startUrl, '--allow-net', '127.0.0.0/8', '--max-depth', '5', '--concurrency', '8', '--data-dir', dataDir, '--json', '--config', configFile]);
    expect(crawl.code, crawl.stderr).to.equal(0);
    const summary = JSON.parse(crawl.stdout.trim().split('\n').pop() as string);
    expect(summary).to.include({ status: 'completed', imagesStored: site.expected.size, imagesFailed: 0 });
    expect(crawl.stderr).to.contain(`session ${summary.sessionId}`);
    expect(fs.readdirSync(path.join(dataDir, 'images')).length).to.be.greaterThan(0);

    const out = path.join(dataDir, 'export.jsonl');
    const exp = await runCli(['export', '--session', summary.sessionId, '--out', out, '--config', configFile]);
    expect(exp.code, exp.stderr).to.equal(0);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).to.have.length(site.expected.size);
    for (const line of lines) {
      expect(Object.keys(line)).to.deep.equal(['url', 'state', 'error', 'sha256', 'bytes', 'width', 'height', 'format', 'pageUrl', 'status', 'phash', 'metadata', 'revalidated']);
      const e = site.expected.get(line.url);
      expect(e?.ok && line).to.deep.include({ state: 'stored', error: null, sha256: e?.ok && e.sha256, width: e?.ok && e.width, status: 200 });
    }
    // Without --session: the most recent session, to stdout.
    const latest = await runCli(['export', '--config', configFile]);
    expect(latest.stdout.trim().split('\n')).to.have.length(site.expected.size);
  });

  it('sessions, status, stop and failures explain a session without running any work', async () => {
    const odd = await startSyntheticSite({ pages: 4, imagesPerPage: 4, minImageBytes: 800, maxImageBytes: 1500, seed: 15, specials: true, slowMs: 50, slowSucceeds: true });
    try {
      const crawl = await runCli(['crawl', odd.startUrl, '--allow-net', '127.0.0.0/8', '--json', '--config', configFile]);
      expect(crawl.code, crawl.stderr).to.equal(0);
      const { sessionId } = JSON.parse(crawl.stdout.trim().split('\n').pop() as string);
      const failed = [...odd.expected.values()].filter((e) => !e.ok).map((e) => e.url);
      expect(failed.length).to.be.greaterThan(0);

      const failures = await runCli(['failures', sessionId, '--json', '--samples', '50', '--config', configFile]);
      expect(failures.code, failures.stderr).to.equal(0);
      const report = JSON.parse(failures.stdout) as { sessionId: string; groups: { kind: string; reason: string; count: number; urls: string[] }[] };
      expect(report.sessionId).to.equal(sessionId);
      const imageUrls = report.groups.filter((g) => g.kind === 'image').flatMap((g) => g.urls);
      expect(imageUrls).to.have.members(failed);
      expect(report.groups.every((g) => g.count >= g.urls.length && g.reason.length > 0 && !/https?:\/\//.test(g.reason))).to.equal(true);
      const text = await runCli(['failures', sessionId, '--config', configFile]);
      expect(text.stdout).to.match(/failed URLs/);

      const status = JSON.parse((await runCli(['status', sessionId, '--json', '--config', configFile])).stdout);
      expect(status).to.include({ id: sessionId, status: 'completed' });
      const list = JSON.parse((await runCli(['sessions', '--json', '--config', configFile])).stdout) as { id: string }[];
      expect(list.map((s) => s.id)).to.include(sessionId);
      const stop = await runCli(['stop', sessionId, '--config', configFile]);
      expect(stop.stdout.trim()).to.equal(`session ${sessionId}: completed`); // already finished: nothing to stop
      expect((await runCli(['sync', 'pause', '--config', configFile])).stdout).to.contain('sync paused');
      expect((await runCli(['sync', 'resume', '--config', configFile])).stdout).to.contain('sync resumed');
      const audit = JSON.parse((await runCli(['audit', '--json', '--config', configFile])).stdout) as { actor: string; action: string; target: string; outcome: string }[];
      expect(audit.find((e) => e.action === 'cli stop' && e.target === sessionId)?.actor).to.match(/^cli:/);
      expect(audit.slice(0, 5).map((e) => `${e.action} ${e.outcome}`)).to.include.members(['cli sync pause ok', 'cli sync resume ok']);
      const bad = await runCli(['status', 'not-a-session', '--config', configFile]);
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.contain('"not-a-session" is not a session id');
    } finally {
      await odd.close();
    }
  });

  it('refuses loopback without --allow-net, says why in the summary and exits non-zero', async () => {
    const crawl = await runCli(['crawl', site.startUrl, '--json', '--config', configFile]);
    expect(crawl.code).to.equal(1);
    const summary = JSON.parse(crawl.stdout.trim().split('\n').pop() as string);
    expect(summary).to.include({ status: 'completed', pages: 0, pagesFailed: 1, imagesStored: 0 });
    expect(summary.startFailures).to.have.length(1);
    expect(summary.startFailures[0].error).to.match(/refusing 127\.0\.0\.1 .*loopback address; allow it with --allow-private or --allow-net/);
    const text = await runCli(['crawl', site.startUrl, '--config', configFile]);
    expect(text.code).to.equal(1);
    expect(text.stdout).to.match(/nothing could be crawled:\n  http:\/\/127\.0\.0\.1:\d+\/: refusing 127\.0\.0\.1/);
  });

  it('explains usage and configuration mistakes with distinct exit codes', async () => {
    const noUrl = await runCli(['crawl', '--config', configFile]);
    expect(noUrl.code).to.equal(2);
    expect(noUrl.stderr).to.contain('give at least one URL');
    const badFlag = await runCli(['crawl', 'http://x.test/', '--max-pages', 'lots']);
    expect(badFlag.code).to.equal(2);
    expect(badFlag.stderr).to.contain('--max-pages must be an integer');
    const unknown = await runCli(['crawl', 'http://x.test/', '--frobnicate']);
    expect(unknown.code).to.equal(2);
    const typo = path.join(tempDir('config'), 'typo.yaml');
    fs.writeFileSync(typo, 'crawler:\n  max_pagse: 3\n');
    const bad = await runCli(['crawl', 'http://x.test/', '--config', typo]);
    expect(bad.code).to.equal(78);
    expect(bad.stderr).to.contain('unknown key "crawler.max_pagse"');
    expect((await runCli(['nonsense'])).code).to.equal(2);
    // A value from the environment or the command line is blamed on where it came from.
    const garbageDb = await runCli(['crawl', 'http://x.test/'], { DATABASE_URL: 'garbage' });
    expect(garbageDb.code).to.equal(78);
    expect(garbageDb.stderr).to.contain('database.url (from DATABASE_URL): not a postgres:// URL');
    expect(garbageDb.stderr).not.to.match(/\n\s+at /); // no stack trace
    const badNet = await runCli(['crawl', 'http://x.test/', '--allow-net', '300.1.1.1/8']);
    expect(badNet.code).to.equal(78);
    expect(badNet.stderr).to.contain('crawler.allow_nets.0 (from the command line): "300.1.1.1/8" is not a CIDR range');
  });

  it('web on a port another process holds says so and exits 78 (not "API on http://null")', async () => {
    const holder = net.createServer().listen(0, '127.0.0.1');
    await once(holder, 'listening');
    try {
      const port = (holder.address() as net.AddressInfo).port;
      const web = await runCli(['web', '--port', String(port), '--host', '127.0.0.1', '--config', configFile], { API_TOKEN: 'cli-token-0123456789abcdef' });
      expect(web.code).to.equal(78);
      expect(web.stderr).to.contain(`cannot listen on 127.0.0.1:${port}: the port is taken by another process`);
      expect(web.stderr).not.to.contain('null');
    } finally {
      holder.close();
    }
  });

  it('--help of the long-running commands prints their help and starts nothing', async () => {
    for (const cmd of ['worker', 'web', 'ha-api', 'migrate']) {
      const run = await runCli([cmd, '--help']);
      expect(run.code, `${cmd}: ${run.stderr}`).to.equal(0);
      expect(run.stdout).to.match(new RegExp(`^image-crawler ${cmd} `));
    }
    for (const cmd of ['sessions', 'status', 'stop', 'failures']) {
      const run = await runCli([cmd, '--help']);
      expect(run.code, `${cmd}: ${run.stderr}`).to.equal(0);
      expect(run.stdout).to.contain(`image-crawler ${cmd} `);
    }
  });

  it('says at once which service is unreachable at start, and where, instead of hanging', async () => {
    const closedPort = await freePort();
    for (const [env, what] of [
      [{ REDIS_URL: `redis://127.0.0.1:${closedPort}` }, `cannot reach Redis at redis://127.0.0.1:${closedPort}`],
      [{ DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${closedPort}/x` }, `cannot reach PostgreSQL at postgres://postgres:***@127.0.0.1:${closedPort}/x`],
    ] as const) {
      const started = Date.now();
      const run = await runCli(['crawl', 'http://x.test/', '--config', configFile], env);
      expect(run.code, run.stderr).to.equal(69);
      expect(Date.now() - started).to.be.lessThan(20_000);
      expect(run.stderr).to.contain(what);
      expect(run.stderr).not.to.contain('secret');
      expect(run.stderr.trim().split('\n').length, run.stderr).to.be.at.most(3); // no flood of reconnection errors
    }
  });
});
