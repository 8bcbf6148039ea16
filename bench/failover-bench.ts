/**
 * npm run bench:failover -- [--runs 3]
 *
 * Write unavailability when the primary's host dies: a local primary + standby in `sync` mode,
 * one write every 100 ms through the application's router, the primary's postmaster SIGKILLed,
 * and the time from the kill to the first acknowledged write on the new primary — with the
 * SPEC's 5-s × 3 rule and with 1-s probes — plus acknowledged rows lost. Median of the runs.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { validateConfig } from '../src/config/load-config';
import { scheduleHealthChecks } from '../src/ha/health-check-job';
import { startConsumers } from '../src/queues/queue-registry';
import { clusterDown, clusterUp } from '../src/ha/local-cluster';
import { Runtime, prepareDatabase } from '../src/runtime';
import { waitForReplica } from '../test/support/cluster-helpers';
import { freePortPair } from '../test/support/ports';
import { deleteRedisPrefix, tempDir } from '../test/support/test-env';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function oneRun(intervalS: number): Promise<{ unavailableMs: number; lost: number; acked: number }> {
  const dir = tempDir('failover-bench');
  const port = await freePortPair();
  const cluster = await clusterUp(dir, port);
  const nodes = cluster.nodes.map((n, i) => ({ name: n.name, url: n.url.replace(/\/postgres$/, '/image_crawler'), priority: 100 - i }));
  const config = validateConfig({
    database: { url: nodes[0].url, nodes, connection_timeout_s: 2, pool_size: 4 },
    redis: { prefix: `failover-bench-${Date.now()}` },
    ha: { health_check_interval_s: intervalS, failure_threshold: 3, probe_connect_timeout_ms: Math.min(2000, intervalS * 800), sync_mode: 'sync' },
    log_level: 'error',
  });
  await prepareDatabase(config);
  await waitForReplica(nodes[1].url);
  const rt = await Runtime.create(config, { migrate: false });
  const health = await scheduleHealthChecks(rt);
  if (!health) throw new Error('no health checks: the configuration names no nodes');
  const consumers = startConsumers<'worker'>({ crawl: [], download: [], health: [health.consumer], sync: [], check: [], push: [] }, rt);
  try {
    while ((await health.manager.view())?.primary !== 'node1') await sleep(50);
    await rt.knex.raw('CREATE TABLE bench_writes (id int PRIMARY KEY)');
    while (!(await health.manager.view())?.nodes.every((n) => n.reachable)) await sleep(50); // sync mode applied
    await sleep(intervalS * 1000);

    const acked: { id: number; at: number }[] = [];
    let id = 0;
    let running = true;
    const writer = (async () => {
      while (running) {
        const started = Date.now();
        const n = ++id;
        await rt.knex('bench_writes').insert({ id: n }).then(
          () => acked.push({ id: n, at: Date.now() }),
          () => undefined,
        );
        await sleep(Math.max(0, 100 - (Date.now() - started)));
      }
    })();
    await sleep(3000);
    const postmaster = Number(fs.readFileSync(`${cluster.nodes[0].dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
    const killedAt = Date.now();
    process.kill(postmaster, 'SIGKILL');
    while (!acked.some((a) => a.at > killedAt && rt.router.primary === 'node2')) await sleep(20);
    const firstAfter = acked.find((a) => a.at > killedAt && rt.router.primary === 'node2') as { at: number };
    running = false;
    await writer;
    const { rows } = await rt.knex.raw('SELECT id FROM bench_writes');
    const present = new Set(rows.map((r: { id: number }) => r.id));
    return { unavailableMs: firstAfter.at - killedAt, lost: acked.filter((a) => !present.has(a.id)).length, acked: acked.length };
  } finally {
    await Promise.all(consumers.map((w) => w.close()));
    await health.close();
    await rt.close();
    await deleteRedisPrefix(config.redis.prefix);
    await clusterDown(dir, port).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const runs = Number(values.runs);
  const results: Record<string, unknown> = {};
  for (const intervalS of [5, 1]) {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const r = await oneRun(intervalS);
      process.stderr.write(`interval ${intervalS} s, run ${i + 1}: ${r.unavailableMs} ms without writes, ${r.lost} of ${r.acked} acknowledged rows lost\n`);
      samples.push(r);
    }
    const sorted = samples.map((s) => s.unavailableMs).sort((a, b) => a - b);
    results[`interval_${intervalS}s`] = {
      medianUnavailableMs: sorted[Math.floor(sorted.length / 2)],
      runsMs: sorted,
      acknowledgedRowsLost: samples.reduce((a, s) => a + s.lost, 0),
    };
  }
  console.log(JSON.stringify({ syncMode: 'sync', failureThreshold: 3, ...results }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
