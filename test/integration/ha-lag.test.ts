import { expect } from 'chai';
import { Redis } from 'ioredis';
import { HaManager } from '../../src/ha/ha-manager';
import { stopNode } from '../../src/ha/local-cluster';
import { TestCluster, isInRecovery, query, startTestCluster } from '../support/cluster-helpers';
import { TEST_REDIS_URL } from '../support/test-env';
import { waitFor } from '../support/wait-for';

describe('HA: a standby that stopped replicating is never promoted', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  let redis: Redis;

  before(async () => {
    cluster = await startTestCluster({ ha: { failure_threshold: 3, probe_connect_timeout_ms: 500 } });
    redis = new Redis(TEST_REDIS_URL);
  });
  after(async () => {
    redis?.disconnect();
    await cluster?.close();
  });

  it('the standby’s WAL receiver stops, the primary dies: no failover, and the reason says why', async () => {
    const [node1, node2] = cluster.nodes;
    const manager = new HaManager(cluster.config, redis);
    expect((await manager.check()).verdict.decision).to.deep.equal({ kind: 'adopt', primary: 'node1' });
    expect((await manager.view()).nodes.find((n) => n.name === 'node2')?.lagBytes).to.equal(0);

    // Replication stops: the standby no longer streams, and the primary moves on without it.
    await query(node2.url, "ALTER SYSTEM SET primary_conninfo = ''");
    await query(node2.url, 'SELECT pg_reload_conf()');
    await waitFor('the primary lists no replica', async () => (await query(node1.url, 'SELECT count(*)::int AS n FROM pg_stat_replication')).rows[0].n === 0);
    await query(node1.url, 'CREATE TABLE written_after (id int); INSERT INTO written_after SELECT generate_series(1, 1000)');
    await manager.check();
    expect((await manager.view()).nodes.find((n) => n.name === 'node2')?.lagBytes).to.equal(null);

    await stopNode(cluster.dir, cluster.port, 'node1', 'immediate');
    let decision;
    for (let i = 0; i < 4; i++) decision = (await manager.check()).verdict.decision;
    expect(decision).to.deep.include({ kind: 'no_candidate', from: 'node1' });
    expect((decision as { reason: string }).reason).to.contain('node2 lag unknown');
    expect(await isInRecovery(node2.url)).to.equal(true);
  });
});
