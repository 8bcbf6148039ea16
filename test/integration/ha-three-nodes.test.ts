import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createApp } from '../../src/api/app';
import { acceptUpgrades } from '../../src/api/event-socket';
import { startSyntheticSite } from '../../src/demo/synthetic-site';
import { ClusterState } from '../../src/ha/cluster-state';
import { HaManager } from '../../src/ha/ha-manager';
import { haStatus } from '../../src/ha/ha-status';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/load-config';
import { stopDataDir, stopNode } from '../../src/ha/local-cluster';
import { runCli, writeConfigFile } from '../support/cli';
import { type Received, openEventSocket, readSse } from '../support/event-clients';
import { freePort } from '../support/ports';
import { isInRecovery, query, startTestCluster } from '../support/cluster-helpers';
import { expectEveryImageStoredOnce, startTestRuntime } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { Redis } from 'ioredis';
import { NodeKeeper } from '../../src/ha/node-keeper';
import { PostgresNode } from '../../src/ha/postgres-node';
import { hasForked } from '../../src/ha/timeline';

const TOKEN = 'three-nodes-events-token-0123456789';

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
    // An operator watches on the event stream, as a WebSocket and as server-sent events.
    const app = createApp(t.rt, TOKEN);
    const server = app.listen(0, '127.0.0.1');
    acceptUpgrades(server, app);
    await once(server, 'listening');
    const base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const viaSocket: Received = [];
    const viaSse: Received = [];
    const ws = await openEventSocket(`ws://${base}/api/events`, TOKEN, viaSocket);
    const sse = readSse(`http://${base}/api/events`, TOKEN, viaSse);
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
      for (const [name, got] of [['WebSocket', viaSocket], ['SSE', viaSse]] as const) {
        await waitFor(`the ${name} client saw the failover`, () => got.some((e) => e.event === 'failover' && e.data.to === 'node2' && e.data.outcome === 'success'), 10_000);
        await waitFor(`the ${name} client saw the new term's primary`, () => got.some((e) => e.event === 'cluster' && e.data.primary === 'node2'), 10_000);
        await waitFor(`the ${name} client saw the crawl complete`, () => got.some((e) => e.event === 'progress' && e.data.id === id && e.data.status === 'completed'), 10_000);
      }
    } finally {
      ws.close();
      sse.abort();
      server.closeAllConnections();
      server.close();
      await t.close().catch(() => undefined);
      await site.close();
      await cluster.close();
    }
  });

  it('add-node joins a third node to a running cluster, which then survives a failover onto it; reinit rebuilds a standby whose data directory was deleted', async () => {
    const cluster = await startTestCluster({ database: { connection_timeout_s: 2 }, ha: { health_check_interval_s: 1, failure_threshold: 3, probe_connect_timeout_ms: 500 } });
    const [node1, node2] = cluster.nodes;
    const configFile = writeConfigFile(cluster.config);
    let t = await startTestRuntime(cluster.config);
    try {
      const state = new ClusterState(t.rt.redis, cluster.config.redis.prefix);
      await waitFor('node1 adopted as the primary', async () => (await state.view(cluster.config.database.nodes)).primary === 'node1');
      const port = await freePort();
      const url = `postgres://postgres@127.0.0.1:${port}/image_crawler`;
      const added = await runCli(['ha', 'add-node', '--name', 'node3', '--url', url, '--data-dir', path.join(cluster.dir, 'node3'), '--priority', '200', '--config', configFile]);
      expect(added.code, added.stderr).to.equal(0);
      expect(added.stdout).to.contain('node3 streams from node1');
      expect(await streamingFrom(node1.url)).to.deep.equal(['node2', 'node3']);
      const slots = await query(node1.url, 'SELECT slot_name, active FROM pg_replication_slots');
      expect(slots.rows).to.deep.include({ slot_name: 'node3', active: true });
      // Registered in the cluster's own database: a host whose config does not name node3 is told.
      const elsewhere = await haStatus(cluster.config, new HaManager(cluster.config, t.rt.redis));
      expect(elsewhere.notInConfig.map((n) => [n.name, n.url, n.priority])).to.deep.equal([['node3', url, 200]]);
      const config = loadConfig({ file: configFile });
      expect((await haStatus(config, new HaManager(config, t.rt.redis))).notInConfig).to.deep.equal([]);
      expect(config.database.nodes.map((n) => [n.name, n.priority])).to.deep.equal([['node1', 100], ['node2', 99], ['node3', 200]]);

      // Every process reads the grown config; then the primary dies and node3 (priority 200) takes over.
      await t.close();
      t = await startTestRuntime(config);
      const grown = new ClusterState(t.rt.redis, config.redis.prefix);
      await waitFor('the health checks see node1 primary and node3 streaming', async () => {
        const view = await grown.view(config.database.nodes);
        return view.primary === 'node1' && view.nodes.find((n) => n.name === 'node3')?.lagBytes !== null;
      });
      await stopNode(cluster.dir, cluster.port, 'node1', 'immediate');
      await waitFor('node3 promoted and routed to', async () => t.rt.router.primary === 'node3', 30_000);
      await waitFor('node2 streams from node3', async () => (await streamingFrom(url)).includes('node2'), 15_000);
      const { rows } = await query(url, "SELECT count(*)::int AS n FROM failover_events WHERE to_node = 'node3' AND outcome = 'success'");
      expect(rows[0].n).to.equal(1);

      // node2's data directory is lost: reinit builds it again from the new primary.
      await stopDataDir(node2.data_dir);
      fs.rmSync(node2.data_dir, { recursive: true, force: true });
      const reinit = await runCli(['ha', 'reinit', '--node', 'node2', '--config', configFile]);
      expect(reinit.code, reinit.stderr).to.equal(0);
      await waitFor('node2 streams from node3 again', async () => (await streamingFrom(url)).includes('node2'), 15_000);
      expect(await isInRecovery(node2.url)).to.equal(true);
    } finally {
      await t.close().catch(() => undefined);
      await stopDataDir(path.join(cluster.dir, 'node3')).catch(() => undefined);
      await cluster.close();
    }
  });
  it("a standby that replayed past the new primary's fork is rewound by its host's keeper and streams from the new primary", async () => {
    const cluster = await startTestCluster({ ha: { health_check_interval_s: 1, auto_failover: false, confirm_interval_ms: 0, probe_connect_timeout_ms: 500 } }, 3);
    const { config, dir, port } = cluster;
    const [node1, node2, node3] = cluster.nodes;
    const redis = new Redis(config.redis.url);
    const manager = new HaManager(config, redis);
    const keeper = new NodeKeeper(config, redis);
    const timeouts = { connectTimeoutMs: 2000, responseTimeoutMs: 10_000 };
    try {
      await manager.check();
      await query(node1.url, 'CREATE TABLE fork_probe (n int)');
      await waitFor('node2 and node3 have the table', async () => {
        const n = await Promise.all([node2, node3].map((x) => query(x.url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'fork_probe'")));
        return n.every((r) => r.rows[0].n === 1);
      });
      // node2 stops receiving; node1 writes on, which only node3 receives; node1 dies.
      await query(node2.url, "ALTER SYSTEM SET primary_conninfo = ''");
      await query(node2.url, 'SELECT pg_reload_conf()');
      await waitFor('node2 no longer streams from node1', async () => !(await streamingFrom(node1.url)).includes('node2'));
      await query(node1.url, 'INSERT INTO fork_probe SELECT generate_series(1, 1000)');
      const lsn = (await query(node1.url, 'SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn as string;
      await new PostgresNode(node3, timeouts).waitForReplay(lsn, 10_000);
      await stopNode(dir, port, 'node1', 'immediate');

      // node2, behind, is promoted by hand; node3 replayed past the fork and cannot follow it.
      await manager.check();
      await manager.manualFailover('node2');
      const history = await new PostgresNode(node2, timeouts).timelineHistory();
      const position = await new PostgresNode(node3, timeouts).recoveryPosition();
      expect(history.timeline).to.equal(2);
      expect(position, 'node3 is a standby').to.not.equal(null);
      expect(hasForked(position!, history.timeline, history.history), `node3 at ${position!.replayLsn} on timeline ${position!.timeline} has forked off ${JSON.stringify(history.history.map((h) => ({ ...h, switchpoint: h.switchpoint.toString(16) })))}`).to.equal(true);

      // The keeper on node3's host sees it forked twice, rewinds it, and it streams from node2.
      const outcomes: unknown[] = [];
      await waitFor('the keeper rewinds node3', async () => {
        await manager.check();
        const done = await keeper.check();
        outcomes.push(...done);
        return done.some((o) => o.node === 'node3' && o.ok);
      }, 60_000);
      expect(outcomes.filter((o) => (o as { ok: boolean }).ok === false), 'no failed rewind').to.deep.equal([]);
      await waitFor('node3 streams from node2', async () => (await streamingFrom(node2.url)).includes('node3'), 20_000);
      await query(node2.url, 'INSERT INTO fork_probe VALUES (-1)');
      const count = async (url: string) => (await query(url, 'SELECT count(*)::int AS n, count(*) FILTER (WHERE n = -1)::int AS after FROM fork_probe')).rows[0];
      await waitFor('node3 replays what node2 writes', async () => (await count(node3.url)).after === 1, 10_000);
      // What only node1 wrote is gone from node3: it holds exactly node2's history.
      expect(await count(node3.url)).to.deep.equal(await count(node2.url));
      expect(await keeper.check(), 'a following standby is left alone').to.deep.equal([]);
    } finally {
      redis.disconnect();
      await cluster.close();
    }
  });
});
