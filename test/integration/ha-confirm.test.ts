import { expect } from 'chai';
import { Redis } from 'ioredis';
import { HaManager } from '../../src/ha/ha-manager';
import { stopNode } from '../../src/ha/local-cluster';
import { TestCluster, isInRecovery, startTestCluster } from '../support/cluster-helpers';
import { TEST_REDIS_URL } from '../support/test-env';

describe('HA: a failed primary is confirmed in seconds, not in intervals', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  let redis: Redis;

  before(async () => {
    // The SPEC's settings: checks every 5 s, 3 failures; re-probes 1 s apart once one fails.
    cluster = await startTestCluster({ ha: { health_check_interval_s: 5, failure_threshold: 3, probe_connect_timeout_ms: 500, confirm_interval_ms: 1000 } });
    redis = new Redis(TEST_REDIS_URL);
  });
  after(async () => {
    redis?.disconnect();
    await cluster?.close();
  });

  it('the primary dies: the check that sees it fail re-probes it twice, a second apart, and fails over', async () => {
    const manager = new HaManager(cluster.config, redis);
    await manager.check(); // adopts node1
    await stopNode(cluster.dir, cluster.port, 'node1', 'immediate');
    const started = Date.now();
    const { verdict, failover } = await manager.check();
    const tookMs = Date.now() - started;
    expect(verdict.decision).to.deep.include({ kind: 'failover', from: 'node1', to: 'node2' });
    expect(failover).to.deep.include({ outcome: 'success' });
    expect(await isInRecovery(cluster.nodes[1].url)).to.equal(false);
    // Two confirming probes a second apart: about 2 s, where waiting for two more checks takes 10 s.
    expect(tookMs).to.be.within(1900, 8000);
  });
});
