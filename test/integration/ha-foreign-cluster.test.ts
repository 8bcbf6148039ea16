import { expect } from 'chai';
import { Redis } from 'ioredis';
import { HaManager } from '../../src/ha/ha-manager';
import { clusterDown, clusterUp, stopNode } from '../../src/ha/local-cluster';
import { prepareDatabase } from '../../src/runtime';
import { TestCluster, isInRecovery, startTestCluster, waitForReplica } from '../support/cluster-helpers';
import { startTestRuntime, tempDir, TEST_REDIS_URL } from '../support/test-env';

describe('HA: nodes of another cluster', function () {
  this.timeout(120_000);
  let first: TestCluster;
  let secondDir: string | null = null;
  let redis: Redis;

  before(async () => {
    first = await startTestCluster({ ha: { failure_threshold: 1, probe_connect_timeout_ms: 500 } });
    redis = new Redis(TEST_REDIS_URL);
  });
  after(async () => {
    redis?.disconnect();
    if (secondDir) await clusterDown(secondDir, first.port).catch(() => undefined); // its directory goes with the run's temp dirs
    await first?.close();
  });

  it('a new cluster on the ports of one that had failed over: Redis’ old state is not inherited', async () => {
    const { config } = first;
    const manager = new HaManager(config, redis);
    await manager.check(); // adopts node1
    await stopNode(first.dir, first.port, 'node1', 'immediate');
    expect((await manager.check()).failover).to.deep.include({ to: 'node2', outcome: 'success' });
    expect((await manager.view()).primary).to.equal('node2');

    // That cluster is gone; a brand-new one is made on the same ports. Redis still says node2.
    await clusterDown(first.dir, first.port);
    secondDir = tempDir('cluster');
    await clusterUp(secondDir, first.port);
    await prepareDatabase(config);
    await waitForReplica(config.database.nodes[1].url);

    // A process starting now writes to the new cluster's primary, not to its standby.
    const t = await startTestRuntime(config, false);
    try {
      expect(t.rt.router.primary).to.equal('node1');
      await t.rt.knex.raw('SELECT 1');
    } finally {
      await t.close();
    }
    // The health check adopts the new primary instead of "finishing the promotion" of its standby.
    const { verdict } = await new HaManager(config, redis).check();
    expect(verdict.decision).to.deep.equal({ kind: 'adopt', primary: 'node1' });
    expect(await isInRecovery(config.database.nodes[1].url)).to.equal(true);
    expect((await manager.view()).primary).to.equal('node1');
  });
});
