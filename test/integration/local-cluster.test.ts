import fs from 'node:fs';
import { expect } from 'chai';
import { clusterDown, clusterStatus, clusterUp, LocalCluster } from '../../src/ha/local-cluster';
import { runCli } from '../support/cli';
import { query } from '../support/cluster-helpers';
import { freePortPair } from '../support/ports';
import { tempDir } from '../support/test-env';


describe('local two-node cluster (cluster up|down|status)', function () {
  this.timeout(120_000);
  let dir: string;
  let port: number;
  let cluster: LocalCluster;

  before(async () => {
    dir = tempDir('cluster');
    port = await freePortPair();
    cluster = await clusterUp(dir, port);
  });

  after(async () => {
    await clusterDown(dir, port).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts a primary and a streaming standby', async () => {
    const status = await clusterStatus(dir, port);
    expect(status.map((n) => [n.name, n.running, n.inRecovery])).to.deep.equal([
      ['node1', true, false],
      ['node2', true, true],
    ]);
    const replication = await query(cluster.nodes[0].url, 'SELECT application_name, state FROM pg_stat_replication');
    expect(replication.rows).to.deep.equal([{ application_name: 'node2', state: 'streaming' }]);
  });

  it('replicates writes to the standby, which refuses writes of its own', async () => {
    const [primary, standby] = cluster.nodes;
    await query(primary.url, 'CREATE TABLE replicated (id int primary key)');
    await query(primary.url, 'INSERT INTO replicated SELECT generate_series(1, 100)');
    let count = 0;
    for (let i = 0; i < 100 && count !== 100; i++) {
      count = Number((await query(standby.url, 'SELECT count(*) AS n FROM replicated').catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n);
      if (count !== 100) await new Promise((r) => setTimeout(r, 100));
    }
    expect(count).to.equal(100);
    const err = await query(standby.url, 'INSERT INTO replicated VALUES (101)').catch((e) => e);
    expect(err.code).to.equal('25006'); // read_only_sql_transaction
  });

  it('has wal_log_hints on, so a former primary can be rewound', async () => {
    const { rows } = await query(cluster.nodes[0].url, 'SHOW wal_log_hints');
    expect(rows[0].wal_log_hints).to.equal('on');
  });

  it('is driven from the command line: up is idempotent and writes cluster.yaml; down stops both', async () => {
    const up = await runCli(['cluster', 'up', '--dir', dir, '--port', String(port), '--json']);
    expect(up.code, up.stderr).to.equal(0);
    const { config } = JSON.parse(up.stdout);
    const yaml = fs.readFileSync(config, 'utf8');
    expect(yaml).to.contain(`url: postgres://postgres@127.0.0.1:${port}/image_crawler`);
    expect(yaml).to.contain(`name: node2, url: "postgres://postgres@127.0.0.1:${port + 1}/image_crawler"`);
    // Without --port, the ports are the ones the cluster in --dir was made with (not the default).
    const status = await runCli(['cluster', 'status', '--dir', dir, '--json']);
    const nodes = JSON.parse(status.stdout).nodes as { port: number; inRecovery: boolean }[];
    expect(nodes.map((n) => [n.port, n.inRecovery])).to.deep.equal([
      [port, false],
      [port + 1, true],
    ]);
    const down = await runCli(['cluster', 'down', '--dir', dir]);
    expect(down.code, down.stderr).to.equal(0);
    expect((await clusterStatus(dir, port)).map((n) => n.running)).to.deep.equal([false, false]);
  });
});
