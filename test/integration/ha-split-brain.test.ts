import { expect } from 'chai';
import { Redis } from 'ioredis';
import { HaManager } from '../../src/ha/ha-manager';
import { startNodeNamed, stopNode } from '../../src/ha/local-cluster';
import { TestCluster, query, startTestCluster } from '../support/cluster-helpers';
import { deleteRedisPrefix, startTestRuntime, TEST_REDIS_URL } from '../support/test-env';

describe('HA: split brain', function () {
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

  it('Redis loses its keys after a failover and the old primary comes back writable: writes go only to the new primary', async () => {
    const { dir, port, config } = cluster;
    const [node1, node2] = cluster.nodes.map((n) => n.url);
    let manager = new HaManager(config, redis);
    await manager.check(); // adopts node1
    await stopNode(dir, port, 'node1', 'immediate');
    let failover = null;
    for (let i = 0; i < 4 && !failover; i++) failover = (await manager.check()).failover;
    expect(failover).to.deep.include({ from: 'node1', to: 'node2', outcome: 'success' });

    // The old primary restarts writable (it never learnt it was replaced) and Redis comes back empty.
    await startNodeNamed(dir, port, 'node1');
    await deleteRedisPrefix(config.redis.prefix);

    // A process starting now, before any health check, routes to the new primary.
    const t = await startTestRuntime(config, false);
    try {
      expect(t.rt.router.primary).to.equal('node2');
      await t.rt.knex.raw('CREATE TABLE after_flush (id int)');
      await t.rt.knex.raw('INSERT INTO after_flush VALUES (1)');
    } finally {
      await t.close();
    }
    expect((await query(node2, 'SELECT count(*)::int AS n FROM after_flush')).rows[0].n).to.equal(1);

    // The health check adopts the node on the newest timeline, and fences the other one.
    manager = new HaManager(config, redis);
    const { verdict } = await manager.check();
    expect(verdict.decision).to.deep.include({ kind: 'adopt', primary: 'node2' });
    expect(verdict.needsRejoin).to.deep.equal(['node1']);
    // A stale process's write on the old primary fails instead of being acknowledged there.
    let refused: Error | null = null;
    await query(node1, 'CREATE TABLE written_on_the_old_primary (id int)').catch((err: Error) => (refused = err));
    expect(String(refused)).to.match(/read-only transaction/);
    expect((await manager.check()).verdict).to.deep.equal({ decision: { kind: 'healthy', primary: 'node2' }, needsRejoin: ['node1'] });
  });
});
