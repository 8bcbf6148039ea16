import { expect } from 'chai';
import { Redis } from 'ioredis';
import pg from 'pg';
import { HaManager } from '../../src/ha/ha-manager';
import { startNodeNamed, stopNode } from '../../src/ha/local-cluster';
import { startTestCluster, waitForReplica } from '../support/cluster-helpers';
import { runCli, writeConfigFile } from '../support/cli';
import { TEST_REDIS_URL, startTestRuntime } from '../support/test-env';

async function settings(url: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query("SELECT current_setting('synchronous_standby_names') AS names, current_setting('synchronous_commit') AS commit");
    return rows[0] as { names: string; commit: string };
  } finally {
    await c.end();
  }
}

describe('HA: sync mode, slow nodes, planned switchover', function () {
  this.timeout(120_000);

  it('commits wait for the standby; a standby down degrades to async so writes never hang; sync returns with it', async () => {
    const cluster = await startTestCluster({ ha: { sync_mode: 'sync', probe_connect_timeout_ms: 1000 } });
    const { config, dir, port, nodes } = cluster;
    const redis = new Redis(TEST_REDIS_URL);
    const writer = new pg.Client({ connectionString: nodes[0].url.replace('/image_crawler', '/postgres') });
    try {
      const manager = new HaManager(config, redis);
      await manager.check();
      expect(await settings(nodes[0].url)).to.deep.equal({ names: 'ANY 1 ("node2")', commit: 'remote_apply' });

      await writer.connect();
      await writer.query('CREATE TABLE sync_probe (id int)');
      await stopNode(dir, port, 'node2', 'immediate');
      let done = false;
      const write = writer.query('INSERT INTO sync_probe VALUES (1)').then(() => (done = true));
      await new Promise((r) => setTimeout(r, 1000));
      expect(done, 'a commit waits while its synchronous standby is down').to.equal(false);
      await manager.check(); // sees node2 down: degrade
      await Promise.race([write, new Promise((_, reject) => setTimeout(() => reject(new Error('write still blocked')), 5000))]);
      expect(await settings(nodes[0].url)).to.deep.equal({ names: '', commit: 'local' });

      await startNodeNamed(dir, port, 'node2');
      await waitForReplica(nodes[1].url);
      await manager.check();
      expect(await settings(nodes[0].url)).to.deep.equal({ names: 'ANY 1 ("node2")', commit: 'remote_apply' });
    } finally {
      await writer.end().catch(() => undefined);
      redis.disconnect();
      await cluster.close();
    }
  });

  it('a slow primary counts as failed only past the response timeout', async () => {
    const cluster = await startTestCluster({ ha: { probe_connect_timeout_ms: 2500, response_timeout_s: 2.5, confirm_interval_ms: 0 } });
    const config = cluster.config;
    const redis = new Redis(TEST_REDIS_URL);
    const postmaster = cluster.postmasterPid();
    const pause = async (ms: number) => {
      process.kill(postmaster, 'SIGSTOP'); // the server stops answering, as under a stalled disk or a lock pile-up
      await new Promise((r) => setTimeout(r, ms));
      process.kill(postmaster, 'SIGCONT');
    };
    try {
      const manager = new HaManager(config, redis);
      await manager.check();
      const [slow] = await Promise.all([manager.check(), pause(1000)]);
      const node1 = slow.view.nodes.find((n) => n.name === 'node1');
      expect(node1).to.deep.include({ reachable: true, consecutiveFailures: 0 });
      expect(node1?.responseMs).to.be.within(700, 2500);
      const [tooSlow] = await Promise.all([manager.check(), pause(4000)]);
      expect(tooSlow.view.nodes.find((n) => n.name === 'node1')).to.deep.include({ reachable: false, consecutiveFailures: 1 });
      expect(tooSlow.verdict.decision.kind).to.equal('waiting');
    } finally {
      try {
        process.kill(postmaster, 'SIGCONT');
      } catch {
        // already gone
      }
      redis.disconnect();
      await cluster.close();
    }
  });

  it('ha switchover moves the primary while writes go on, losing no acknowledged write', async () => {
    const cluster = await startTestCluster({ ha: { sync_mode: 'async', read_from_standby: true } });
    const { config } = cluster;
    const redis = new Redis(TEST_REDIS_URL);
    await new HaManager(config, redis).check(); // adopt node1, see node2 healthy
    const t = await startTestRuntime(config, false);
    try {
      expect(t.rt.router.primary).to.equal('node1');
      // Read/write split: listings may come from the standby, writes never.
      expect(t.rt.router.readFrom).to.equal('node2');
      expect((await t.rt.router.reader.raw('SELECT pg_is_in_recovery() AS r')).rows[0].r).to.equal(true);
      expect((await t.rt.knex.raw('SELECT pg_is_in_recovery() AS r')).rows[0].r).to.equal(false);
      expect(await t.rt.images.list({}, 1)).to.be.an('array');
      await t.rt.knex.raw('CREATE TABLE switchover_writes (id int PRIMARY KEY)');
      const acked: number[] = [];
      let running = true;
      let n = 0;
      const writer = (async () => {
        while (running) {
          const id = ++n;
          await t.rt.knex('switchover_writes').insert({ id }).then(() => acked.push(id), () => undefined);
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      await new Promise((r) => setTimeout(r, 500));
      const switched = await runCli(['ha', 'switchover', '--json', '--config', writeConfigFile(config)]);
      expect(switched.code, switched.stderr).to.equal(0);
      expect(JSON.parse(switched.stdout)).to.deep.include({ from: 'node1', to: 'node2', automatic: false, outcome: 'success', term: 2 });
      const ackedBefore = acked.length;
      const routedTo = () => t.rt.router.primary;
      while (routedTo() !== 'node2' || acked.length <= ackedBefore + 5) await new Promise((r) => setTimeout(r, 20));
      expect(t.rt.router.readFrom).to.equal('node2'); // the promoted standby no longer serves as a replica
      running = false;
      await writer;
      const { rows } = await t.rt.knex.raw('SELECT id FROM switchover_writes');
      const present = new Set(rows.map((r: { id: number }) => r.id));
      expect(acked.length).to.be.greaterThan(20);
      expect(acked.filter((id) => !present.has(id))).to.deep.equal([]);
      const view = await new HaManager(config, redis).check();
      expect(view.verdict).to.deep.equal({ decision: { kind: 'healthy', primary: 'node2' }, needsRejoin: ['node1'] });
    } finally {
      await t.rt.close();
      redis.disconnect();
      await cluster.close();
    }
  });
});
