import fs from 'node:fs';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import pg from 'pg';
import { HaManager } from '../../src/ha/ha-manager';
import { clusterDown, clusterUp, startNodeNamed, stopNode } from '../../src/ha/local-cluster';
import { prepareDatabase } from '../../src/runtime';
import { waitForReplica } from '../support/cluster-helpers';
import { freePortPair } from '../support/ports';
import { deleteRedisPrefix, tempDir, testConfig, TEST_REDIS_URL } from '../support/test-env';

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

describe('HA: sync mode', function () {
  this.timeout(120_000);

  it('commits wait for the standby; a standby down degrades to async so writes never hang; sync returns with it', async () => {
    const dir = tempDir('ha-sync');
    const port = await freePortPair();
    const cluster = await clusterUp(dir, port);
    const nodes = cluster.nodes.map((n, i) => ({ name: n.name, url: n.url.replace(/\/postgres$/, '/image_crawler'), priority: 100 - i }));
    const config = testConfig({ database: { url: nodes[0].url, nodes }, ha: { sync_mode: 'sync', probe_connect_timeout_ms: 1000 } });
    const redis = new Redis(TEST_REDIS_URL);
    const writer = new pg.Client({ connectionString: nodes[0].url.replace('/image_crawler', '/postgres') });
    try {
      await prepareDatabase(config);
      await waitForReplica(nodes[1].url);
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
      await deleteRedisPrefix(config.redis.prefix);
      await clusterDown(dir, port).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
