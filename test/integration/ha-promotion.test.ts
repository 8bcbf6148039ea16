import { expect } from 'chai';
import { Redis } from 'ioredis';
import { ClusterState } from '../../src/ha/cluster-state';
import { HaManager } from '../../src/ha/ha-manager';
import { TestCluster, isInRecovery, startTestCluster } from '../support/cluster-helpers';
import { runCli, writeConfigFile } from '../support/cli';
import { TEST_REDIS_URL } from '../support/test-env';

/** The term moved to node2, then its promotion never happened (pg_promote failed, or its process died). */
async function promotionCutShort(cluster: TestCluster, redis: Redis): Promise<HaManager> {
  const manager = new HaManager(cluster.config, redis);
  expect((await manager.check()).verdict.decision).to.deep.equal({ kind: 'adopt', primary: 'node1' });
  const state = new ClusterState(redis, cluster.config.redis.prefix);
  expect(await state.transition((await manager.view()).term, 'node2')).to.equal(2);
  expect(await isInRecovery(cluster.nodes[1].url)).to.equal(true);
  return manager;
}

describe('HA: a promotion that did not finish is finished, not a dead end', function () {
  this.timeout(120_000);
  const redises: Redis[] = [];
  const clusters: TestCluster[] = [];
  const setUp = async () => {
    const cluster = await startTestCluster({ ha: { failure_threshold: 3, probe_connect_timeout_ms: 500 } });
    clusters.push(cluster);
    const redis = new Redis(TEST_REDIS_URL);
    redises.push(redis);
    return { cluster, redis };
  };
  after(async () => {
    for (const r of redises) r.disconnect();
    for (const c of clusters) await c.close();
  });

  it('the next health check promotes the recorded primary again; the old one is fenced', async () => {
    const { cluster, redis } = await setUp();
    const manager = await promotionCutShort(cluster, redis);
    const { verdict, failover } = await manager.check();
    expect(verdict.decision).to.deep.include({ kind: 'finish_promotion', primary: 'node2' });
    expect(verdict.needsRejoin).to.deep.equal(['node1']);
    expect(failover).to.deep.include({ to: 'node2', outcome: 'success', term: 2 });
    expect(await isInRecovery(cluster.nodes[1].url)).to.equal(false);
    expect((await manager.check()).verdict.decision).to.deep.equal({ kind: 'healthy', primary: 'node2' });
  });

  it('ha failover --to the recorded primary finishes its promotion (it answered 409)', async () => {
    const { cluster, redis } = await setUp();
    await promotionCutShort(cluster, redis);
    const run = await runCli(['ha', 'failover', '--to', 'node2', '--config', writeConfigFile(cluster.config)]);
    expect(run.code, run.stderr).to.equal(0);
    expect(await isInRecovery(cluster.nodes[1].url)).to.equal(false);
  });
});
