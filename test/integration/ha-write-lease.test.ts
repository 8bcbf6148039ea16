import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createApp } from '../../src/api/app';
import { Redis } from 'ioredis';
import { ClusterState } from '../../src/ha/cluster-state';
import { HaManager } from '../../src/ha/ha-manager';
import type { AppConfig } from '../../src/config/config-schema';
import { TestCluster, query, startTestCluster } from '../support/cluster-helpers';
import { TcpProxy, startBlackhole, startTcpProxy } from '../support/ports';
import { TestRuntime, deleteRedisPrefix, startTestRuntime, TEST_REDIS_URL } from '../support/test-env';
import { waitFor } from '../support/wait-for';

describe('HA: writers hold a lease on the term', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  let redis: Redis;
  let redisProxy: TcpProxy;
  let stale: TestRuntime | null = null;

  before(async () => {
    cluster = await startTestCluster({ ha: { failure_threshold: 2, confirm_interval_ms: 200, probe_connect_timeout_ms: 500, write_lease_ms: 1000 } });
    redis = new Redis(TEST_REDIS_URL);
    redisProxy = await startTcpProxy(Number(new URL(TEST_REDIS_URL).port || 6379));
  });
  after(async () => {
    await stale?.close();
    await redisProxy?.close();
    redis?.disconnect();
    await cluster?.close();
  });

  it('partition: a process cut off from Redis stops writing before the standby is promoted, then follows the new primary', async () => {
    const [node1, node2] = cluster.nodes.map((n) => n.url);
    await new HaManager(cluster.config, redis).check(); // node1 recorded as the primary
    // A process that reaches Redis only through a link the test can cut, and node1 directly.
    const viaProxy: AppConfig = { ...cluster.config, redis: { ...cluster.config.redis, url: `redis://127.0.0.1:${redisProxy.port}` } };
    stale = await startTestRuntime(viaProxy, false);
    await stale.rt.knex.raw('CREATE TABLE lease_probe (id int)');
    await stale.rt.knex('lease_probe').insert({ id: 1 });

    // The partition: that process loses Redis; the health checker loses node1 (node1 itself runs on).
    redisProxy.cut();
    const partition = await startBlackhole();
    const checkerView: AppConfig = {
      ...cluster.config,
      database: { ...cluster.config.database, nodes: cluster.config.database.nodes.map((n) => (n.name === 'node1' ? { ...n, url: n.url.replace(/:\d+\//, `:${partition.port}/`) } : n)) },
    };
    const checker = new HaManager(checkerView, redis);
    let failover = null;
    for (let i = 0; i < 6 && !failover; i++) failover = (await checker.check()).failover;
    await partition.close();
    expect(failover).to.deep.include({ from: 'node1', to: 'node2', outcome: 'success' });
    expect((await query(node1, "SELECT pg_is_in_recovery() AS r, current_setting('default_transaction_read_only') AS ro")).rows[0], 'node1 still takes writes').to.deep.equal({ r: false, ro: 'off' });

    // The cut-off process would write to node1, which nobody could fence: it refuses instead.
    const refused = await stale.rt.knex('lease_probe').insert({ id: 2 }).then(
      () => null,
      (err: Error) => err,
    );
    expect(String(refused)).to.match(/not writing to node1: the cluster's primary was last confirmed \d+ ms ago/);
    expect((await query(node1, 'SELECT count(*)::int AS n FROM lease_probe')).rows[0].n, 'rows on the deposed primary').to.equal(1);
    // Its API still reads, and answers a write with 503 and Retry-After, not a 500.
    const server = createApp(stale.rt, 'lease-token-0123456789').listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/images`;
      const headers = { Authorization: 'Bearer lease-token-0123456789' };
      expect((await fetch(api, { headers })).status).to.equal(200);
      const res = await fetch(`${api}/1`, { method: 'DELETE', headers });
      expect(res.status).to.equal(503);
      expect(res.headers.get('retry-after')).to.equal('2');
      expect(((await res.json()) as { error: string }).error).to.match(/temporarily unavailable: not writing to node1/);
    } finally {
      server.close();
    }

    // The link comes back: the process reads the new term and writes to node2.
    redisProxy.mend();
    await waitFor('the cut-off process follows node2', () => stale!.rt.router.primary === 'node2', 20_000);
    await waitFor('the cut-off process writes again', () => stale!.rt.knex('lease_probe').insert({ id: 3 }).then(() => true, () => false), 20_000);
    expect((await query(node2, 'SELECT id FROM lease_probe ORDER BY id')).rows.map((r) => r.id)).to.deep.equal([1, 3]);
  });

  it('Redis loses its state after a failover: the adopted term continues above the database record', async () => {
    const [, node2] = cluster.nodes.map((n) => n.url);
    const recorded = (await query(node2, 'SELECT coalesce(max(term), 0)::int AS t FROM failover_events')).rows[0].t as number;
    expect(recorded, 'a failover recorded by the test before').to.be.greaterThan(0);
    await deleteRedisPrefix(cluster.config.redis.prefix);
    await new HaManager(cluster.config, redis).check();
    const rec = await new ClusterState(redis, cluster.config.redis.prefix).record();
    expect(rec).to.deep.equal({ term: recorded + 1, primary: 'node2' });

    // What Prometheus is told, by any process of the cluster.
    const scraped = (await stale!.rt.metrics.scrape()).body;
    expect(scraped).to.include(`image_crawler_ha_term ${recorded + 1}\n`);
    expect(scraped).to.include('image_crawler_db_node_up{node="node2",role="primary"} 1\n');
    expect(scraped).to.match(/image_crawler_failovers_total [1-9]/);
  });
});
