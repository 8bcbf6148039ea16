/**
 * npm run bench:sync -- [--files 2000] [--rows 100000]
 *
 * 1. Files synced per second between two local hosts: host A (this process: runtime, push
 *    workers) and host B (`image-crawler web` in a child process, its own store). N files of
 *    5–60 KB are copied as real-time push jobs; then B's store is emptied and a differential
 *    full sync puts them back (rows reference them).
 * 2. A full consistency check of a local primary + streaming standby holding `--rows` image rows.
 */
import { randomBytes, createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import type { Server } from 'node:http';
import { parseArgs } from 'node:util';
import { createApp } from '../src/api/app';
import { validateConfig } from '../src/config/load-config';
import { checkDatabases } from '../src/consistency/database-check';
import { clusterDown, clusterUp } from '../src/ha/local-cluster';
import { Runtime, prepareDatabase } from '../src/runtime';
import { ContentStore } from '../src/storage/content-store';
import { startSyncWorkers } from '../src/workers/sync-workers';
import { waitForReplica } from '../test/support/cluster-helpers';
import { spawnCli, writeConfigFile } from '../test/support/cli';
import { freePort, freePortPair } from '../test/support/ports';
import { deleteRedisPrefix, removeTempDirs, tempDir } from '../test/support/test-env';
import pg from 'pg';

const { values } = parseArgs({ options: { files: { type: 'string', default: '2000' }, rows: { type: 'string', default: '100000' } } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TOKEN = 'sync-bench-token-0123456789';

async function filesPerSecond(count: number) {
  const db = `image_crawler_sync_bench_${Date.now().toString(36)}`;
  const dbUrl = `postgres://postgres@127.0.0.1:5432/${db}`;
  const [portA, portB] = [await freePort(), await freePort()];
  const prefix = `sync-bench-${Date.now()}`;
  const host = (name: string, port: number, peer: string, peerPort: number) =>
    validateConfig({
      database: { url: dbUrl },
      redis: { prefix },
      api: { port, token: TOKEN },
      storage: { data_dir: tempDir(`sync-bench-${name}`), fsync: process.env.BENCH_FSYNC !== '0' },
      sync: { host_name: name, peers: [{ name: peer, url: `http://127.0.0.1:${peerPort}` }], token: `${TOKEN}-sync`, full_sync_interval_s: 3600, concurrency: 8 },
      log_level: 'error',
    });
  const configA = host('hostA', portA, 'hostB', portB);
  const configB = host('hostB', portB, 'hostA', portA);
  await prepareDatabase(configA);
  const b = spawnCli(['web', '--config', writeConfigFile(configB)], { LOG_LEVEL: 'error' });
  const rt = await Runtime.create(configA, { migrate: false });
  const server: Server = createApp(rt, TOKEN).listen(portA, '127.0.0.1');
  const storeB = new ContentStore(configB.storage.data_dir);
  try {
    while (!(await fetch(`http://127.0.0.1:${portB}/api/health`).then((r) => r.ok, () => false))) await sleep(100);
    // Workers first, so their start-up full sync has nothing to do and the timing is the push jobs'.
    const workers = await startSyncWorkers(rt);
    await sleep(500);
    while ((await rt.fileSync.queue.getJobCounts('active', 'waiting')).active > 0) await sleep(50);
    const names: string[] = [];
    let bytes = 0;
    const session = (await rt.knex.raw(`INSERT INTO crawl_sessions (id, status, start_urls, options) VALUES (gen_random_uuid(), 'completed', '[]', '{}') RETURNING id`)).rows[0].id;
    for (let i = 0; i < count; i++) {
      const body = randomBytes(5000 + Math.floor(Math.random() * 55_000));
      const sha = createHash('sha256').update(body).digest('hex');
      const { relativePath } = await rt.store.put(sha, 'jpg', body);
      await rt.knex('images').insert({ session_id: session, url: `http://bench.test/${i}`, status: 'stored', file_path: relativePath, file_size: body.length, sha256: sha });
      names.push(relativePath);
      bytes += body.length;
    }
    const arrived = async () => (await Promise.all(names.map((n) => storeB.has(n)))).every(Boolean);

    let started = Date.now();
    for (const n of names) await rt.fileSync.stored(ContentStore.nameOf(n));
    while (!(await arrived())) await sleep(50);
    const realtimeS = (Date.now() - started) / 1000;
    await workers.close();

    fs.rmSync(storeB.root, { recursive: true, force: true });
    started = Date.now();
    const full = await rt.fileSync.fullSync();
    const fullS = (Date.now() - started) / 1000;
    if (!(await arrived()) || !full.ok) throw new Error('full sync left files behind');
    const mb = bytes / 1e6;
    return {
      files: count,
      megabytes: Number(mb.toFixed(1)),
      realtime: { seconds: realtimeS, filesPerSecond: Math.round(count / realtimeS), mbPerSecond: Number((mb / realtimeS).toFixed(1)) },
      fullSync: { seconds: fullS, filesPerSecond: Math.round(count / fullS), mbPerSecond: Number((mb / fullS).toFixed(1)) },
    };
  } finally {
    b.kill('SIGTERM');
    await once(b, 'exit');
    server.close();
    await rt.close();
    await deleteRedisPrefix(prefix);
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).finally(() => admin.end());
  }
}

async function checkTime(rows: number) {
  const dir = tempDir('sync-bench-cluster');
  const port = await freePortPair();
  const cluster = await clusterUp(dir, port);
  try {
    const nodes = cluster.nodes.map((n, i) => ({ name: n.name, url: n.url.replace(/\/postgres$/, '/image_crawler'), priority: 100 - i }));
    const config = validateConfig({ database: { url: nodes[0].url, nodes }, redis: { prefix: `sync-bench-check-${Date.now()}` }, log_level: 'error' });
    await prepareDatabase(config);
    await waitForReplica(nodes[1].url);
    const c = new pg.Client({ connectionString: nodes[0].url });
    await c.connect();
    await c.query(`INSERT INTO crawl_sessions (id, status, start_urls, options) VALUES ('00000000-0000-4000-8000-000000000000', 'completed', '[]', '{}')`);
    await c.query(
      `INSERT INTO images (session_id, url, page_url, status, http_status, content_type, filename, file_path, file_size, width, height, format, sha256)
       SELECT '00000000-0000-4000-8000-000000000000', 'https://cdn.example.com/img/' || g || '.jpg', 'https://example.com/page/' || (g / 10), 'stored', 200,
              'image/jpeg', md5(g::text) || '.jpg', 'ab/cd/' || md5(g::text) || '.jpg', 20000 + g % 40000, 640, 480, 'jpeg', md5(g::text) || md5(g::text)
         FROM generate_series(1, $1) g`,
      [rows],
    );
    await c.end();
    const started = Date.now();
    const report = await checkDatabases(config, 'node1', { bucketRows: config.sync.check_bucket_rows });
    const seconds = (Date.now() - started) / 1000;
    if (!report.ok) throw new Error(`nodes disagree: ${JSON.stringify(report)}`);
    const images = report.nodes[0].tables.find((t) => t.table === 'images');
    return { imageRows: rows, buckets: images?.bucketsCompared, seconds, ok: report.ok };
  } finally {
    await clusterDown(dir, port).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  try {
    const files = await filesPerSecond(Number(values.files));
    process.stderr.write(`files: ${JSON.stringify(files)}\n`);
    const check = await checkTime(Number(values.rows));
    console.log(JSON.stringify({ fileSync: files, consistencyCheck: check }, null, 2));
  } finally {
    removeTempDirs(); // both hosts' stores and the configs
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
