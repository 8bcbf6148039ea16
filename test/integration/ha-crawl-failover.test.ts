import { expect } from 'chai';
import { startSyntheticSite } from '../../src/demo/synthetic-site';
import { ClusterState } from '../../src/ha/cluster-state';
import { stopNode } from '../../src/ha/local-cluster';
import { startTestCluster } from '../support/cluster-helpers';
import { spawnCli, writeConfigFile } from '../support/cli';
import { Redis } from 'ioredis';
import { TEST_REDIS_URL, expectEveryImageStoredOnce, startTestRuntime } from '../support/test-env';
import { waitFor } from '../support/wait-for';

describe('HA: the primary killed while a crawl is writing', function () {
  this.timeout(180_000);

  it('fails over within threshold × interval and the crawl completes with every image recorded once', async () => {
    const cluster = await startTestCluster({
      database: { connection_timeout_s: 2 },
      // sync mode: no image row acknowledged on the old primary may be missing on the new one.
      ha: { health_check_interval_s: 1, failure_threshold: 3, probe_connect_timeout_ms: 500, sync_mode: 'sync' },
    });
    const { config, dir, port } = cluster;
    const site = await startSyntheticSite({ pages: 40, imagesPerPage: 8, minImageBytes: 1000, maxImageBytes: 3000, seed: 31, specials: false });
    const t = await startTestRuntime(config);
    const routedTo = () => t.rt.router.primary;
    try {
      // Let the health checks adopt node1 and see node2 as its synchronous standby first (until
      // then, in sync mode, no failover is promised to lose nothing, so none is made).
      const state = new ClusterState(t.rt.redis, config.redis.prefix);
      await waitFor('node1 adopted with node2 synchronous', async () => {
        const view = await state.view(config.database.nodes);
        return view.primary === 'node1' && view.nodes.find((n) => n.name === 'node2')?.synchronous === true;
      });
      const { id } = await t.rt.sessions.start({ urls: [site.startUrl], politenessDelayMs: 10 });
      while (((await t.rt.sessions.view(id))?.images_stored ?? 0) < 40) await new Promise((r) => setTimeout(r, 20));
      const killedAt = Date.now();
      await stopNode(dir, port, 'node1', 'immediate');
      while (routedTo() !== 'node2') await new Promise((r) => setTimeout(r, 100));
      const switchedAfterMs = Date.now() - killedAt;
      expect(switchedAfterMs).to.be.below(3 * 1000 + 5000);

      const view = await t.waitForSession(id, 120_000);
      expect(view.status).to.equal('completed');
      await expectEveryImageStoredOnce(t, site, id);
    } finally {
      await t.close().catch(() => undefined);
      await site.close();
      await cluster.close();
    }
  });

  it('the command-line crawl rides through the primary’s death: a line says so, the summary comes at the end', async () => {
    const cluster = await startTestCluster({
      database: { connection_timeout_s: 2 },
      ha: { health_check_interval_s: 1, failure_threshold: 3, probe_connect_timeout_ms: 500, sync_mode: 'sync' },
    });
    const site = await startSyntheticSite({ pages: 40, imagesPerPage: 8, minImageBytes: 1000, maxImageBytes: 3000, seed: 32, specials: false });
    try {
      const configFile = writeConfigFile(cluster.config);
      const child = spawnCli(['crawl', site.startUrl, '--allow-net', '127.0.0.0/8', '--delay', '10', '--json', '--config', configFile]);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d) => (stdout += d));
      child.stderr?.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      await waitFor('the crawl fetches images', () => site.requests.filter((r) => /\.(png|jpe?g|gif|webp)$/.test(r.path)).length >= 40, 60_000);
      const redis = new Redis(TEST_REDIS_URL);
      try {
        const state = new ClusterState(redis, cluster.config.redis.prefix);
        await waitFor('node2 seen as the synchronous standby', async () => (await state.view(cluster.config.database.nodes)).nodes.find((n) => n.name === 'node2')?.synchronous === true);
      } finally {
        redis.disconnect();
      }
      await stopNode(cluster.dir, cluster.port, 'node1', 'immediate');
      const code = await exited;
      expect(code, stderr).to.equal(0);
      expect(stderr).to.contain('the database does not answer');
      const summary = JSON.parse(stdout.trim().split('\n').pop() as string);
      const ok = [...site.expected.values()].filter((e) => e.ok).length;
      expect(summary).to.include({ status: 'completed', imagesStored: ok });
    } finally {
      await site.close();
      await cluster.close();
    }
  });
});
