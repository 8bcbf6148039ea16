import { execFile } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { createHaApp } from '../../src/api/ha-routes';
import type { AppConfig } from '../../src/config/config-schema';
import { HaManager } from '../../src/ha/ha-manager';
import { recentFailovers } from '../../src/ha/postgres-node';
import { startNodeNamed, stopNode } from '../../src/ha/local-cluster';
import { QUEUE_NAMES } from '../../src/queues/job-types';
import { TestCluster, isInRecovery, startTestCluster, waitForReplica } from '../support/cluster-helpers';
import { runCli, writeConfigFile } from '../support/cli';
import { startTestRuntime, TEST_REDIS_URL } from '../support/test-env';

/** Runs a TypeScript file in a new node process (tsx), returning its stdout. */
function runNode(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', ...args], { cwd: path.resolve(__dirname, '../..'), env: { ...process.env, LOG_LEVEL: 'error' } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe('HA: health checks and failover on a real primary + streaming standby', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let dir: string;
  let port: number;
  let config: AppConfig;
  const redises: Redis[] = [];
  const manager = () => {
    const r = new Redis(TEST_REDIS_URL);
    redises.push(r);
    return new HaManager(config, r);
  };

  before(async () => {
    // confirm_interval_ms 0: each check() is one probe round, so the threshold is counted in checks here.
    cluster = await startTestCluster({ ha: { failure_threshold: 3, probe_connect_timeout_ms: 1000, confirm_interval_ms: 0 } });
    ({ dir, port, config } = cluster);
  });

  after(async () => {
    for (const r of redises) r.disconnect();
    await cluster.close();
  });

  it('adopts the running primary on the first check', async () => {
    const { verdict, view } = await manager().check();
    expect(verdict.decision).to.deep.equal({ kind: 'adopt', primary: 'node1' });
    const after = await manager().view();
    expect(after).to.deep.include({ term: 1, primary: 'node1' });
    expect(view.nodes.map((n) => [n.name, n.reachable, n.inRecovery])).to.deep.equal([
      ['node1', true, false],
      ['node2', true, true],
    ]);
  });

  it('primary killed: waits for the threshold, then promotes the standby — once, although three processes race', async () => {
    await stopNode(dir, port, 'node1', 'immediate');
    const m = manager();
    expect((await m.check()).verdict.decision.kind).to.equal('waiting');
    expect((await m.check()).verdict.decision.kind).to.equal('waiting');
    // The third failed check crosses the threshold; three OS processes act on it at once.
    const cfg = writeConfigFile(config);
    const outputs = await Promise.all([1, 2, 3].map(() => runNode(['test/support/ha-check-once.ts', cfg])));
    const failovers = outputs.map((o) => JSON.parse(o.trim().split('\n').pop() as string).failover).filter((f) => f !== null);
    expect(failovers).to.have.length(1);
    expect(failovers[0]).to.deep.include({ from: 'node1', to: 'node2', term: 2, outcome: 'success', automatic: true });
    expect(await isInRecovery(config.database.nodes[1].url)).to.equal(false);
    const view = await m.view();
    expect(view).to.deep.include({ term: 2, primary: 'node2' });
    const events = await recentFailovers(config.database.nodes[1].url);
    expect(events).to.have.length(1);
    // A consistency check is queued after the failover (SPEC §4), once.
    const conn = new Redis(TEST_REDIS_URL);
    redises.push(conn);
    const checks = new Queue(QUEUE_NAMES.check, { connection: conn, prefix: config.redis.prefix });
    expect((await checks.getJobs(['waiting', 'prioritized'])).map((j) => [j.id, j.data])).to.deep.equal([['failover-2', { trigger: 'failover' }]]);
    await checks.close();
    expect(events[0]).to.deep.include({ from: 'node1', to: 'node2', outcome: 'success', term: 2 });
  });

  it('the old primary restarted is fenced: reported as needing rejoin, the new primary stays', async () => {
    await startNodeNamed(dir, port, 'node1');
    const { verdict } = await manager().check();
    expect(verdict).to.deep.equal({ decision: { kind: 'healthy', primary: 'node2' }, needsRejoin: ['node1'] });
  });

  it('runs as a repeatable job: one check per interval however many processes, visible in `ha status`', async () => {
    const fast = { ...config, ha: { ...config.ha, health_check_interval_s: 0.5 } };
    const a = await startTestRuntime(fast);
    const b = await startTestRuntime(fast);
    try {
      // Both processes route writes to the new primary, although database.url still names node1.
      for (const t of [a, b]) {
        expect(t.rt.router.primary).to.equal('node2');
        const { rows } = await t.rt.knex.raw('SELECT pg_is_in_recovery() AS standby, inet_server_port() AS port');
        expect(rows[0]).to.deep.equal({ standby: false, port: port + 1 });
      }
      const health = new Queue(QUEUE_NAMES.health, { connection: a.rt.redis, prefix: fast.redis.prefix });
      const before = (await health.getJobCounts('completed')).completed;
      await new Promise((r) => setTimeout(r, 3000));
      const runs = (await health.getJobCounts('completed')).completed - before;
      expect(runs).to.be.within(4, 8); // ~6 in 3 s at 0.5 s: one per interval, not one per process
      const status = await runCli(['ha', 'status', '--json', '--config', writeConfigFile(fast)]);
      expect(status.code, status.stderr).to.equal(0);
      const parsed = JSON.parse(status.stdout);
      expect(parsed).to.deep.include({ term: 2, primary: 'node2' });
      expect(parsed.nodes.map((n: { name: string; role: string; healthy: boolean }) => [n.name, n.role, n.healthy])).to.deep.equal([
        ['node1', 'needs_rejoin', true],
        ['node2', 'primary', true],
      ]);
      expect(parsed.failovers[0]).to.deep.include({ from: 'node1', to: 'node2', outcome: 'success' });
      await health.close();

      // The HA API server (port 8001 in production) answers from the same state.
      const server = createHaApp(a.rt, 'ha-test-token-0123456789').listen(0, '127.0.0.1');
      await once(server, 'listening');
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const auth = { headers: { Authorization: 'Bearer ha-test-token-0123456789' } };
      try {
        expect(await (await fetch(`${base}/api/health`)).json()).to.deep.equal({ ok: true, term: 2, primary: 'node2' });
        expect((await fetch(`${base}/api/status`)).status).to.equal(401);
        expect(await (await fetch(`${base}/api/status`, auth)).json()).to.deep.include({ term: 2, primary: 'node2' });
        const sync = (await (await fetch(`${base}/api/sync-status`, auth)).json()) as { replication: unknown };
        expect(sync.replication).to.deep.include({ mode: 'async', primary: 'node2', synchronousStandbyNames: '' });
      } finally {
        server.close();
      }
      // A published change of primary reaches every process at once; an older term is ignored.
      await a.rt.redis.publish(`${fast.redis.prefix}:ha:events`, JSON.stringify({ term: 1, primary: 'node1' }));
      await new Promise((r) => setTimeout(r, 200));
      expect(b.rt.router.primary).to.equal('node2');
    } finally {
      await a.workers?.close();
      await b.workers?.close();
      await a.rt.close();
      await b.rt.close();
    }
  });

  it('ha rejoin rewinds the former primary into a standby of the new one, and a second failover goes back', async () => {
    const rejoin = await runCli(['ha', 'rejoin', '--node', 'node1', '--config', writeConfigFile(config)]);
    expect(rejoin.code, rejoin.stderr).to.equal(0);
    expect(rejoin.stdout).to.contain('node1 rewound and started as a standby of node2');
    await waitForReplica(config.database.nodes[0].url);
    const m = manager();
    let verdict = (await m.check()).verdict;
    expect(verdict).to.deep.equal({ decision: { kind: 'healthy', primary: 'node2' }, needsRejoin: [] });
    await stopNode(dir, port, 'node2', 'immediate');
    let failover = null;
    for (let i = 0; i < 3 && !failover; i++) failover = (await m.check()).failover;
    expect(failover).to.deep.include({ from: 'node2', to: 'node1', term: 3, outcome: 'success' });
    expect(await isInRecovery(config.database.nodes[0].url)).to.equal(false);
    verdict = (await m.check()).verdict;
    expect(verdict.decision).to.deep.equal({ kind: 'healthy', primary: 'node1' });
  });

  it('ha failover promotes a standby on request, and refuses when there is none', async () => {
    await rejoinNodeBack();
    const cfg = writeConfigFile(config);
    const failover = await runCli(['ha', 'failover', '--to', 'node2', '--json', '--config', cfg]);
    expect(failover.code, failover.stderr).to.equal(0);
    expect(JSON.parse(failover.stdout)).to.deep.include({ from: 'node1', to: 'node2', automatic: false, outcome: 'success', term: 4 });
    const none = await runCli(['ha', 'failover', '--config', cfg]);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.match(/no reachable standby/);
  });

  it('ha rejoin also brings back a former primary that kept running after a manual failover', async () => {
    const cfg = writeConfigFile(config);
    const rejoin = await runCli(['ha', 'rejoin', '--node', 'node1', '--config', cfg]);
    expect(rejoin.code, rejoin.stderr).to.equal(0);
    await waitForReplica(config.database.nodes[0].url);
    expect(await isInRecovery(config.database.nodes[0].url)).to.equal(true);
    const { verdict } = await manager().check();
    expect(verdict).to.deep.equal({ decision: { kind: 'healthy', primary: 'node2' }, needsRejoin: [] });
  });

  /** node2 was stopped by the previous test: bring it back as a standby of node1. */
  async function rejoinNodeBack(): Promise<void> {
    await startNodeNamed(dir, port, 'node2');
    const res = await runCli(['ha', 'rejoin', '--node', 'node2', '--config', writeConfigFile(config)]);
    expect(res.code, res.stderr).to.equal(0);
    await waitForReplica(config.database.nodes[1].url);
    await manager().check();
  }
});
