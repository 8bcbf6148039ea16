import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { runConsistencyCheck } from '../../src/consistency/consistency-check';
import { rescueRows } from '../../src/consistency/rescue';
import { HaManager } from '../../src/ha/ha-manager';
import { startNodeNamed, stopNode } from '../../src/ha/local-cluster';
import { TestCluster, isInRecovery, query, startTestCluster } from '../support/cluster-helpers';
import { runCli, writeConfigFile } from '../support/cli';
import { Runtime } from '../../src/runtime';
import { startSyncWorkers } from '../../src/workers/sync-workers';
import { TEST_REDIS_URL } from '../support/test-env';


const insertImages = (url: string, session: string, path: string, n: number, status: string) =>
  query(url, `INSERT INTO images (session_id, url, status) SELECT $1, 'http://site.test/' || $2 || '/' || g, $3 FROM generate_series(1, $4) g`, [session, path, status, n]);

describe('rescue after an asynchronous failover', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let redis: Redis;

  before(async () => {
    cluster = await startTestCluster({ ha: { failure_threshold: 1, probe_connect_timeout_ms: 1000 } });
    redis = new Redis(TEST_REDIS_URL);
  });
  after(async () => {
    redis?.disconnect();
    await cluster?.close();
  });

  it('copies into the new primary every row only the old primary had, with no duplicates, before rejoin', async () => {
    const { dir, port, config } = cluster;
    const [node1, node2] = cluster.nodes.map((n) => n.url);
    const manager = new HaManager(config, redis);
    await manager.check(); // adopts node1
    const session = randomUUID();
    await query(node1, `INSERT INTO crawl_sessions (id, status, start_urls, options) VALUES ($1, 'running', '[]', '{}')`, [session]);
    await insertImages(node1, session, 'early', 100, 'stored');
    await insertImages(node1, session, 'waiting', 10, 'pending');
    for (let i = 0; Number((await query(node2, 'SELECT count(*) AS n FROM images').catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n) < 110; i++) {
      if (i > 200) throw new Error('the standby never caught up');
      await new Promise((r) => setTimeout(r, 50));
    }

    // The standby goes away; the primary goes on committing (asynchronous replication), then dies.
    await stopNode(dir, port, 'node2', 'fast');
    await insertImages(node1, session, 'late', 50, 'stored');
    await query(node1, `UPDATE images SET status = 'stored', width = 7, updated_at = now() WHERE url LIKE '%/waiting/%' AND url <= 'http://site.test/waiting/4'`);
    await query(node1, `DELETE FROM images WHERE url IN ('http://site.test/early/1', 'http://site.test/early/2', 'http://site.test/early/3')`);
    const oldRows = (await query(node1, 'SELECT url, status, width FROM images ORDER BY url')).rows;
    expect(oldRows).to.have.length(157);
    await stopNode(dir, port, 'node1', 'immediate');

    // The standby returns and is promoted without those writes; the crawl goes on there.
    await startNodeNamed(dir, port, 'node2');
    const { failover } = await manager.check();
    expect(failover).to.deep.include({ from: 'node1', to: 'node2', outcome: 'success' });
    // The deciding process's clock ran a minute fast: rows the new primary takes right after its
    // promotion still look "older than the failover" by it. The rescue must go by the database's clock.
    await query(node2, "UPDATE failover_events SET started_at = started_at + interval '1 minute'");
    await insertImages(node2, session, 'after', 10, 'stored');

    // The old primary comes back, fenced. The consistency check finds what only it holds.
    await startNodeNamed(dir, port, 'node1');
    const rt = await Runtime.create(config, { migrate: false }); // no workers: the queued rescue stays visible
    try {
      expect(rt.router.primary).to.equal('node2');
      const check = await runConsistencyCheck(rt, 'rejoin', false);
      const n1 = check.database.nodes.find((n) => n.name === 'node1');
      expect(n1).to.deep.include({ role: 'diverged', toRescue: { inserted: 50, updated: 5, deleted: 3 } });
      expect(check.summary).to.match(/node1 \(diverged\) holds rows to rescue/);
      const [job] = await rt.fileSync.queue.getJobs(['waiting', 'prioritized']);
      expect(job.data).to.deep.include({ kind: 'rescue', node: 'node1' });

      // A worker runs the queued rescue job.
      const workers = await startSyncWorkers(rt);
      try {
        for (let i = 0; !(await job.isCompleted()); i++) {
          if (i > 300 || (await job.isFailed())) throw new Error(`the rescue job did not complete: ${(await rt.fileSync.queue.getJob(job.id as string))?.failedReason}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        await workers.close();
      }
      const first = (await rt.fileSync.queue.getJob(job.id as string))?.returnvalue;
      expect(first).to.deep.include({ inserted: 50, updated: 5, deleted: 3, dryRun: false });
      expect(first.tables.find((x: { table: string }) => x.table === 'images')?.samples.length).to.be.greaterThan(0);
    } finally {
      await rt.close();
    }
    // Again: nothing left to do.
    expect(await rescueRows(config, 'node1', 'node2')).to.deep.include({ inserted: 0, updated: 0, deleted: 0 });

    const merged = (await query(node2, 'SELECT url, status, width FROM images ORDER BY url')).rows;
    expect(merged).to.have.length(167); // 157 from the old primary + 10 written on the new one
    expect(new Set(merged.map((r) => r.url)).size).to.equal(merged.length);
    const byUrl = new Map(merged.map((r) => [r.url, r]));
    for (const row of oldRows) expect(byUrl.get(row.url), row.url).to.deep.equal(row);
    const recorded = (await query(node2, 'SELECT node, inserted, updated, deleted FROM sync_rescues ORDER BY id')).rows;
    expect(recorded.length).to.be.at.least(2);
    expect(recorded[0]).to.deep.equal({ node: 'node1', inserted: 50, updated: 5, deleted: 3 });
    // The operator sees it in `sync status`.
    const status = await runCli(['sync', 'status', '--json', '--config', writeConfigFile(config)]);
    expect(status.code, status.stderr).to.equal(0);
    // (The check queued after the failover ran in the worker too and queued a rescue of its own:
    // every rescue after the first found nothing left to do.)
    const rescues = JSON.parse(status.stdout).rescues as { node: string; inserted: number; updated: number; deleted: number }[];
    expect(rescues.pop()).to.deep.include({ node: 'node1', primary: 'node2', inserted: 50, updated: 5, deleted: 3 });
    expect(rescues.every((r) => r.inserted + r.updated + r.deleted === 0)).to.equal(true);

    // `ha rejoin` rescues first (nothing left now), then rewinds node1 into a standby of node2.
    const rejoin = await runCli(['ha', 'rejoin', '--node', 'node1', '--config', writeConfigFile(config)]);
    expect(rejoin.code, rejoin.stderr).to.equal(0);
    expect(rejoin.stdout).to.match(/rescued from node1 into node2: 0 inserted, 0 updated, 0 deleted/);
    expect(await isInRecovery(node1)).to.equal(true);
  });
});
