/**
 * npm run bench:redis-failover -- [--runs 3]
 *
 * What a Redis primary's death costs a crawl: a real Redis primary + replica + 3 sentinels
 * (down-after 1 s, quorum 2), a crawl of a synthetic site through `redis.sentinels`, the Redis
 * primary SIGKILLed once 100 images are stored; how long no job completed in BullMQ around the
 * kill (a job completes only through Redis), and whether the crawl still ends with every image
 * recorded once. Median of the runs.
 */
import { parseArgs } from 'node:util';
import { validateConfig } from '../src/config/load-config';
import type { ImageRow } from '../src/db/image-repository';
import { startSyntheticSite } from '../src/demo/synthetic-site';
import { Runtime } from '../src/runtime';
import { startWorkers } from '../src/workers/start-workers';
import { SentinelRedis } from '../test/support/redis-sentinel';
import { tempDir } from '../test/support/test-env';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RunResult {
  /** The longest time without a job completing in BullMQ, around the SIGKILL: how long work stood still. */
  gapMs: number;
  /** From the SIGKILL to the sentinels naming the replica. */
  promotedMs: number;
  expected: number;
  storedOnce: number;
  missingOrDuplicated: number;
  crawlMs: number;
}

async function oneRun(run: number): Promise<RunResult> {
  const redis = await SentinelRedis.start();
  const site = await startSyntheticSite({ pages: 120, imagesPerPage: 8, minImageBytes: 800, maxImageBytes: 4000, seed: 70 + run, specials: false });
  const config = validateConfig({
    database: { url: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/image_crawler_bench' },
    redis: { sentinels: redis.sentinels, sentinel_name: redis.name }, // a Redis of its own, killed at the end
    storage: { data_dir: tempDir('redis-failover-bench') },
    crawler: { allow_nets: ['127.0.0.0/8'] },
    log_level: 'error',
  });
  const rt = await Runtime.create(config);
  const workers = await startWorkers(rt);
  const completions: number[] = [];
  for (const w of workers.workers) w.on('completed', () => completions.push(Date.now()));
  try {
    const started = Date.now();
    const { id } = await rt.sessions.start({ urls: [site.startUrl] });
    while (((await rt.sessions.view(id))?.images_stored ?? 0) < 100) await sleep(20);
    const killedAt = Date.now();
    await redis.killPrimary();
    let promotedAt = 0;
    while (completions[completions.length - 1] <= killedAt + 100 || !promotedAt) {
      if (!promotedAt && (await redis.currentPrimaryPort().catch(() => 0)) === redis.replicaPort) promotedAt = Date.now();
      if (Date.now() - killedAt > 120_000) throw new Error('no job completed within 120 s of the kill');
      await sleep(20);
    }
    // A completion in flight at the kill may still land: the stall is the longest gap between completions.
    const around = completions.filter((t) => t >= killedAt - 2000);
    const gapMs = Math.max(...around.slice(1).map((t, i) => t - around[i]));
    for (;;) {
      const view = await rt.sessions.view(id);
      if (view && view.status !== 'running' && view.status !== 'stopping') break;
      if (Date.now() - started > 300_000) throw new Error('the crawl did not finish within 300 s');
      await sleep(100);
    }
    const rows = await rt.knex<ImageRow>('images').where({ session_id: id });
    const good = rows.filter((r) => {
      const e = site.expected.get(r.url);
      return r.status === 'stored' && e?.ok && e.sha256 === r.sha256;
    });
    const once = new Set(good.map((r) => r.url)).size;
    return {
      gapMs,
      promotedMs: promotedAt - killedAt,
      expected: site.expected.size,
      storedOnce: once,
      missingOrDuplicated: site.expected.size - once + (rows.length - once),
      crawlMs: Date.now() - started,
    };
  } finally {
    await workers.close().catch(() => undefined);
    await rt.close().catch(() => undefined);
    await site.close();
    await redis.stop();
  }
}

async function main(): Promise<void> {
  const runs: RunResult[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    const r = await oneRun(i);
    console.error(`run ${i + 1}: no job completed for ${r.gapMs} ms (sentinels promoted the replica ${r.promotedMs} ms after the kill), ${r.storedOnce}/${r.expected} images stored once`);
    runs.push(r);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    JSON.stringify(
      {
        medianGapMs: median(runs.map((r) => r.gapMs)),
        medianPromotedMs: median(runs.map((r) => r.promotedMs)),
        imagesMissingOrDuplicated: runs.reduce((n, r) => n + r.missingOrDuplicated, 0),
        runs,
      },
      null,
      2,
    ),
  );
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
