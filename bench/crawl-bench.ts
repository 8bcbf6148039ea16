/**
 * npm run bench -- [--pages 2000] [--images-per-page 10] [--concurrency 64] [--workers 0] [--server auto|nginx|node] [--latency-ms 0] [--batch 16] [--recrawl] [--render]
 * (BENCH_FSYNC=0: no fsync of image files; BENCH_CPU_PROFILE=FILE: a V8 CPU profile of the
 *  first worker process over its life, for DevTools; BENCH_WORKER_ARGS="--flag …": Node flags
 *  for the worker processes, to A/B a V8 setting)
 *
 * Generates a synthetic site (jpeg/png/webp/gif of 5–60 KB, duplicates, 404s, a robots-
 * disallowed area), serves it on 127.0.0.1 — with nginx when it is installed (`--server auto`),
 * else from a Node process — crawls it with the real pipeline (BullMQ queues, `image-crawler
 * worker` processes of the compiled build, PostgreSQL, content store) and prints pages/s,
 * images/s, MB/s, the worker's peak RSS, images found vs placed and every party's CPU seconds.
 * `--workers N` adds N worker processes (to use more cores); `--latency-ms N` makes the site
 * answer every request N ms late (the real web's round trips: a latency-bound crawl, where
 * more workers should mean more images/s). Uses its own database and Redis
 * prefix, and removes them and its files.
 */
import { fork, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import YAML from 'yaml';
import { validateConfig } from '../src/config/load-config';
import { Runtime } from '../src/runtime';
import { deleteRedisPrefix } from '../test/support/test-env';
import { cpuSByName, peakRssBytes, processCpu } from './proc-cpu';

const { values } = parseArgs({
  options: {
    pages: { type: 'string', default: '2000' },
    'images-per-page': { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '64' },
    workers: { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
    server: { type: 'string', default: 'auto' },
    'latency-ms': { type: 'string', default: '0' },
    recrawl: { type: 'boolean', default: false },
    render: { type: 'boolean', default: false },
    batch: { type: 'string', default: '16' },
  },
});

const LAUNCHER = path.join(__dirname, '../bin/image-crawler.js');

/** The Node flags the launcher's `#!` line gives it when users run it (npx, the Procfile); fork() does not read that line. */
function launcherFlags(): string[] {
  const shebang = fs.readFileSync(LAUNCHER, 'utf8').split('\n')[0];
  return /^#!\/usr\/bin\/env -S node\b(.*)$/.exec(shebang)?.[1].trim().split(/\s+/).filter(Boolean) ?? [];
}

function onMessage<T>(child: ChildProcess, pick: (m: any) => T | undefined): Promise<T> {
  return new Promise((resolve) => {
    const h = (m: unknown) => {
      const v = pick(m);
      if (v !== undefined) {
        child.off('message', h);
        resolve(v);
      }
    };
    child.on('message', h);
  });
}

async function main() {
  const pages = Number(values.pages);
  const concurrency = Number(values.concurrency);
  const workerCount = 1 + Number(values.workers);
  const tsx = ['--import', 'tsx'];

  warnIfStoreRecentlyDeleted();
  process.stderr.write(`generating a ${pages}-page site…\n`);
  const server = fork(path.join(__dirname, 'site-server.ts'), [String(pages), String(values['images-per-page']), String(values.seed), String(values.server), String(values['latency-ms'])], { execArgv: tsx });
  const site = await onMessage(server, (m) => (m?.startUrl ? (m as { startUrl: string; expected: number; expectedOk: number; imageBytes: number; server: string }) : undefined));
  process.stderr.write(`site ready: ${site.expected} image URLs (${site.expectedOk} valid), ${(site.imageBytes / 1e6).toFixed(0)} MB of distinct images, served by ${site.server}\n`);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-crawler-bench-'));
  const benchDb = `image_crawler_bench_${Date.now().toString(36)}`;
  const config = validateConfig({
    // A database per run: rows left by earlier runs would make each run slower than the last.
    database: { url: process.env.BENCH_DATABASE_URL ?? `postgres://postgres@127.0.0.1:5432/${benchDb}` },
    redis: { prefix: `bench-${Date.now()}` },
    storage: { data_dir: dataDir, fsync: process.env.BENCH_FSYNC !== '0' },
    crawler: { allow_nets: ['127.0.0.0/8'], max_pages: pages + 100, max_depth: 20, per_host_concurrency: concurrency, request_timeout_ms: 5000 },
    worker: { download_concurrency: concurrency, download_batch: Number(values.batch), crawl_concurrency: Math.max(4, Math.ceil(concurrency / 4)), attempts: 2, backoff_ms: 100 },
    log_level: 'warn',
  });
  const rt = await Runtime.create(config);
  // The crawler measured is what users run: `image-crawler worker` processes from the compiled
  // build (`npm run bench` builds first); this process only starts the session and watches it.
  const cfgFile = path.join(dataDir, 'bench.yaml');
  fs.writeFileSync(cfgFile, YAML.stringify(config));
  const profile = process.env.BENCH_CPU_PROFILE;
  const profileArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${path.dirname(path.resolve(profile))}`, `--cpu-prof-name=${path.basename(profile)}`] : [];
  const workers: ChildProcess[] = [];
  for (let i = 0; i < workerCount; i++) {
    const execArgv = [...launcherFlags(), ...(i === 0 ? profileArgs : []), ...(process.env.BENCH_WORKER_ARGS?.split(/\s+/).filter(Boolean) ?? [])];
    workers.push(fork(LAUNCHER, ['worker', '--config', cfgFile], { execArgv }));
  }
  const pids = workers.map((w) => w.pid as number);
  await waitForWorkers(rt, workerCount);

  const redisCpu = async () => {
    const info = await rt.redis.info('cpu');
    const v = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    return v('used_cpu_user') + v('used_cpu_sys');
  };
  const redisCpuBefore = await redisCpu();
  const pgCpuBefore = cpuSByName('postgres');
  const cpuBefore = processCpu(pids);
  const started = process.hrtime.bigint();
  const { id } = await rt.sessions.start({ urls: [site.startUrl], maxDepth: 20, maxPages: pages + 100, render: values.render });
  // Watch the session row alone: a full view counts rows, which would load the database.
  const untilDone = async (sessionId: string) => {
    while ((await rt.knex('crawl_sessions').where({ id: sessionId }).first('status'))?.status === 'running') {
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await untilDone(id);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuAfter = processCpu(pids);
  const cpu = { userS: cpuAfter.userS - cpuBefore.userS, sysS: cpuAfter.sysS - cpuBefore.sysS };
  const peakRss = Math.max(...pids.map(peakRssBytes));
  const view = (await rt.sessions.view(id))!;
  const redisCpuS = (await redisCpu()) - redisCpuBefore;
  const pgCpuS = cpuSByName('postgres') - pgCpuBefore;

  server.send('requests');
  const { requests, cpuS: siteCpuS } = await onMessage(server, (m) => (m?.requests !== undefined ? (m as { requests: number; cpuS: number }) : undefined));
  const stored = await rt.knex('images').where({ session_id: id, status: 'stored' }).count<{ count: string }[]>({ count: '*' });
  const figures = {
    pages: view.pages_crawled,
    imageUrls: view.images_found,
    imagesPlaced: site.expected,
    imagesStored: Number(stored[0].count),
    validImagesPlaced: site.expectedOk,
    imagesFailed: view.images_failed,
    requests,
    seconds: +seconds.toFixed(2),
    pagesPerS: Math.round(view.pages_crawled / seconds),
    imagesPerS: Math.round(view.images_stored / seconds),
    mbPerS: +(view.bytes_downloaded / 1e6 / seconds).toFixed(1),
    mbDownloaded: +(view.bytes_downloaded / 1e6).toFixed(1),
    peakRssMb: Math.round(peakRss / 1e6),
    crawlerCpuS: +(cpu.userS + cpu.sysS).toFixed(2),
    crawlerSysCpuS: +cpu.sysS.toFixed(2),
    redisCpuS: +redisCpuS.toFixed(2),
    postgresCpuS: +pgCpuS.toFixed(2),
    siteServer: site.server,
    siteServerCpuS: +siteCpuS.toFixed(2),
    workerProcesses: workerCount,
    concurrency,
    latencyMs: Number(values['latency-ms']),
    downloadBatch: Number(values.batch),
  };
  console.log(JSON.stringify(figures, null, 2));
  if (values.recrawl) {
    // The same site again, unchanged, as a re-crawl of the first session: every image a 304.
    const again = process.hrtime.bigint();
    const second = await rt.sessions.start({ urls: [site.startUrl], maxDepth: 20, maxPages: pages + 100, since: id });
    await untilDone(second.id);
    const recrawlSeconds = Number(process.hrtime.bigint() - again) / 1e9;
    const [{ count: revalidated }] = await rt.knex('images').where({ session_id: second.id, revalidated: true }).count<{ count: string }[]>({ count: '*' });
    const recrawled = (await rt.sessions.view(second.id))!;
    console.log(JSON.stringify({ recrawlSeconds: +recrawlSeconds.toFixed(2), firstCrawlSeconds: figures.seconds, imagesStored: recrawled.images_stored, revalidated: Number(revalidated), mbDownloaded: +(recrawled.bytes_downloaded / 1e6).toFixed(1) }, null, 2));
  }

  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve).kill('SIGTERM'))));
  await rt.close();
  await deleteRedisPrefix(config.redis.prefix);
  server.send('close');
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.writeFileSync(LAST_CLEANUP_FILE, String(Date.now()));
  if (!process.env.BENCH_DATABASE_URL) {
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${benchDb} WITH (FORCE)`).finally(() => admin.end());
  }
}

/** When a bench run last deleted its store (see warnIfStoreRecentlyDeleted). */
const LAST_CLEANUP_FILE = path.join(os.tmpdir(), 'image-crawler-bench-last-cleanup');

/**
 * ext4 without a journal (this project's development machines) skips recently deleted inodes
 * when it allocates new ones, which makes creating files much slower for a few minutes after
 * many were deleted — as every bench run deletes its store. Such a run measures the file
 * system's state, not the crawler: say so.
 */
function warnIfStoreRecentlyDeleted(): void {
  const at = Number(fs.existsSync(LAST_CLEANUP_FILE) ? fs.readFileSync(LAST_CLEANUP_FILE, 'utf8') : 0);
  const ago = (Date.now() - at) / 1000;
  if (ago < 300) {
    process.stderr.write(`note: the previous bench run deleted its store ${Math.round(ago)} s ago; on ext4 file creation is slower for a few minutes after that — expect slower figures\n`);
  }
}

/** Until `n` worker processes consume the download queue (they connect in a second or two). */
async function waitForWorkers(rt: Runtime, n: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await rt.queues.download.getWorkersCount()) >= n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the ${n} worker process(es) did not start within 30 s`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
