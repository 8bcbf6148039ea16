import { expect } from 'chai';
import { startSyntheticSite } from '../../src/demo/synthetic-site';
import { SentinelRedis } from '../support/redis-sentinel';
import { expectEveryImageStoredOnce, startTestRuntime, testConfig } from '../support/test-env';
import { waitFor } from '../support/wait-for';

describe('Redis high availability through Sentinel', function () {
  this.timeout(180_000);

  it('the Redis primary is SIGKILLed mid-crawl: the sentinels promote the replica and the crawl completes with every image once', async () => {
    const redis = await SentinelRedis.start();
    const site = await startSyntheticSite({ pages: 30, imagesPerPage: 8, minImageBytes: 800, maxImageBytes: 2000, seed: 51, specials: false });
    const t = await startTestRuntime(testConfig({ redis: { sentinels: redis.sentinels, sentinel_name: redis.name } }));
    try {
      const { id } = await t.rt.sessions.start({ urls: [site.startUrl], politenessDelayMs: 5 });
      await waitFor('the crawl stores images', async () => ((await t.rt.sessions.view(id))?.images_stored ?? 0) >= 30, 60_000);
      await redis.killPrimary();
      await waitFor('the sentinels promote the replica', async () => (await redis.currentPrimaryPort()) === redis.replicaPort, 60_000);
      const view = await t.waitForSession(id, 120_000);
      expect(view.status).to.equal('completed');
      await expectEveryImageStoredOnce(t, site, id);
    } finally {
      await t.close().catch(() => undefined);
      await site.close();
      await redis.stop();
    }
  });
});
