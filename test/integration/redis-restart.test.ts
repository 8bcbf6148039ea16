import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { startSyntheticSite } from '../../src/demo/synthetic-site';
import { spawnCli, writeConfigFile } from '../support/cli';
import { OwnRedis } from '../support/own-redis';
import { expectEveryImageStoredOnce, startTestRuntime, testConfig } from '../support/test-env';

describe('Redis killed mid-crawl (no persistence: every queue is gone)', function () {
  this.timeout(120_000);

  it('the crawl finishes from what PostgreSQL holds, every image recorded exactly once', async () => {
    const redis = await OwnRedis.start();
    const site = await startSyntheticSite({ pages: 40, imagesPerPage: 8, minImageBytes: 1000, maxImageBytes: 3000, seed: 21, specials: false });
    const config = testConfig({ redis: { url: redis.url }, worker: { attempts: 3 } });
    const configFile = writeConfigFile(config);
    const t = await startTestRuntime(config, false);
    const workers: ChildProcess[] = [];
    try {
      workers.push(spawnCli(['worker', '--config', configFile, '--concurrency', '8']));
      const { id } = await t.rt.sessions.start({ urls: [site.startUrl], politenessDelayMs: 5 });
      for (;;) {
        const stored = await t.rt.knex('images').where({ session_id: id, status: 'stored' }).count<{ count: string }[]>({ count: '*' });
        if (Number(stored[0].count) >= 30) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await redis.kill();
      const pendingAtKill = await t.rt.frontier.pendingCount(id);
      expect(pendingAtKill).to.be.greaterThan(0);
      await new Promise((r) => setTimeout(r, 500));
      await redis.restart();

      const view = await t.waitForSession(id, 90_000);
      expect(view.status).to.equal('completed');
      await expectEveryImageStoredOnce(t, site, id);
      expect(view.images_stored).to.equal(site.expected.size);
    } finally {
      for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
      await t.close();
      await site.close();
      await redis.kill();
    }
  });
});
