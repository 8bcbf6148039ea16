import { expect } from 'chai';
import { startSyntheticSite } from '../../src/demo/synthetic-site';
import { ClusterState } from '../../src/ha/cluster-state';
import { HaManager } from '../../src/ha/ha-manager';
import { haStatus } from '../../src/ha/ha-status';
import { stopNode } from '../../src/ha/local-cluster';
import { query, startTestCluster } from '../support/cluster-helpers';
import { expectEveryImageStoredOnce, startTestRuntime } from '../support/test-env';
import { waitFor } from '../support/wait-for';

/** Which standbys stream from `url` (its pg_stat_replication), by application_name. */
async function streamingFrom(url: string): Promise<string[]> {
  const { rows } = await query(url, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1");
  return rows.map((r) => r.application_name as string);
}

describe('HA: three nodes', function () {
  this.timeout(180_000);

  it('the primary killed mid-crawl: one promotion, the other standby streams from the new primary, every image recorded once', async () => {
    const cluster = await startTestCluster(
      {
        database: { connection_timeout_s: 2 },
        ha: { health_check_interval_s: 1, failure_threshold: 3, probe_connect_timeout_ms: 500 },
      },
      3,
    );
    const { config, dir, port } = cluster;
    const [node1, node2] = cluster.nodes;
    const site = await startSyntheticSite({ pages: 40, imagesPerPage: 8, minImageBytes: 1000, maxImageBytes: 3000, seed: 33, specials: false });
    const t = await startTestRuntime(config);
    try {
      expect(await streamingFrom(node1.url)).to.deep.equal(['node2', 'node3']);
      const state = new ClusterState(t.rt.redis, config.redis.prefix);
      await waitFor('node1 adopted as the primary', async () => (await state.view(config.database.nodes)).primary === 'node1');
      const { id } = await t.rt.sessions.start({ urls: [site.startUrl], politenessDelayMs: 10 });
      await waitFor('the crawl stores images', async () => ((await t.rt.sessions.view(id))?.images_stored ?? 0) >= 40, 60_000);
      await stopNode(dir, port, 'node1', 'immediate');
      await waitFor('node2 promoted and routed to', async () => t.rt.router.primary === 'node2', 30_000);
      const promotedAt = Date.now();
      // Within one health interval (plus the reload and the standby's reconnect).
      await waitFor('node3 streams from node2', async () => (await streamingFrom(node2.url)).includes('node3'), 1000 + 10_000);
      expect(Date.now() - promotedAt).to.be.below(11_000);

      const status = await haStatus(config, new HaManager(config, t.rt.redis));
      await waitFor('ha status shows node3 streaming from node2', async () => {
        const s = await haStatus(config, new HaManager(config, t.rt.redis));
        return s.nodes.find((n) => n.name === 'node3')?.streamsFrom === 'node2';
      }, 10_000);
      expect(status.primary).to.equal('node2');
      const view = await t.waitForSession(id, 120_000);
      expect(view.status).to.equal('completed');
      await expectEveryImageStoredOnce(t, site, id);
      const failovers = await query(node2.url, "SELECT to_node FROM failover_events WHERE outcome = 'success'");
      expect(failovers.rows.map((r) => r.to_node), 'exactly one promotion').to.deep.equal(['node2']);
      // node3 has replayed what node2 took as primary: the crawl's rows are there too.
      const rows = async (url: string) => Number((await query(url, 'SELECT count(*) AS n FROM images WHERE session_id = $1', [id])).rows[0].n);
      await waitFor('node3 has every row of the crawl', async () => (await rows(cluster.nodes[2].url)) === (await rows(node2.url)), 10_000);
    } finally {
      await t.close().catch(() => undefined);
      await site.close();
      await cluster.close();
    }
  });
});
