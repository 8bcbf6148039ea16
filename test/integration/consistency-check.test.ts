import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { checkDatabases } from '../../src/consistency/database-check';
import { ClusterState } from '../../src/ha/cluster-state';
import { TestCluster, query, startTestCluster } from '../support/cluster-helpers';
import { runCli, writeConfigFile } from '../support/cli';
import { TEST_REDIS_URL } from '../support/test-env';


describe('consistency check of database nodes', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  let primary: string;
  let standby: string;
  const opts = { bucketRows: 1000, replayWaitMs: 5000 };

  before(async () => {
    cluster = await startTestCluster();
    [primary, standby] = cluster.nodes.map((n) => n.url);
    const session = randomUUID();
    await query(primary, `INSERT INTO crawl_sessions (id, status, start_urls, options) VALUES ($1, 'completed', '[]', '{}')`, [session]);
    await query(
      primary,
      `INSERT INTO images (session_id, url, status, sha256, file_size)
       SELECT $1, 'http://site.test/img/' || g, 'stored', md5(g::text) || md5(g::text), g FROM generate_series(1, 2500) g`,
      [session],
    );
  });
  after(async () => cluster?.close());

  it('finds a streaming standby in agreement: counts, latest row, id range, every bucket', async () => {
    const report = await checkDatabases(cluster.config, 'node1', opts);
    expect(report.ok).to.equal(true);
    const node = report.nodes[0];
    expect(node).to.deep.include({ name: 'node2', role: 'standby', caughtUp: true, ok: true });
    const images = node.tables.find((t) => t.table === 'images');
    expect(images).to.deep.include({ countDifference: 0, latestMatches: true, keyRangeMatches: true, differingBuckets: [] });
    expect(images?.primary.count).to.equal(2500);
    expect(images?.bucketsCompared).to.equal(3);
  });

  it('locates a row changed and a row deleted on the standby’s side of a broken replication', async () => {
    // The cluster records node1 as its primary (as its health checks would have)…
    const redis = new Redis(TEST_REDIS_URL);
    await new ClusterState(redis, cluster.config.redis.prefix).transition(0, 'node1').finally(() => redis.disconnect());
    // …then replication breaks: the standby is promoted behind the cluster's back and written to.
    await query(standby, 'SELECT pg_promote(true, 60)');
    const ids = (await query(primary, 'SELECT id FROM images ORDER BY id')).rows.map((r) => Number(r.id));
    const changed = ids[1500];
    const deleted = ids[2200];
    await query(standby, `UPDATE images SET width = 4242 WHERE id = $1`, [changed]);
    await query(standby, `DELETE FROM images WHERE id = $1`, [deleted]);

    const report = await checkDatabases(cluster.config, 'node1', opts);
    expect(report.ok).to.equal(false);
    const node = report.nodes[0];
    expect(node).to.deep.include({ name: 'node2', role: 'diverged', ok: false });
    const images = node.tables.find((t) => t.table === 'images');
    expect(images?.countDifference).to.equal(-1);
    expect(images?.differingBuckets.map((b) => [b.bucket, b.missing, b.extra, b.changed])).to.deep.equal([
      [String(Math.floor(changed / 1000)), [], [], [String(changed)]],
      [String(Math.floor(deleted / 1000)), [String(deleted)], [], []],
    ].sort((a, b) => Number(a[0]) - Number(b[0])));
    expect(node.tables.find((t) => t.table === 'pages')?.ok).to.equal(true);

    // The CLI says the same and exits non-zero.
    const cli = await runCli(['sync', 'check', '--json', '--config', writeConfigFile(cluster.config)]);
    expect(cli.code, cli.stderr).to.equal(1);
    const out = JSON.parse(cli.stdout.trim().split('\n').pop() as string);
    expect(out.ok).to.equal(false);
    expect(out.summary).to.match(/node2 \(diverged\) images: -1 rows, 2 differing bucket\(s\).*1 missing, 0 extra, 1 changed/);
  });
});
