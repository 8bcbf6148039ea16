/**
 * npm run bench:backup -- [--pages 2000] [--more 200]
 *
 * Backup and restore with the real tools: builds a local primary + standby cluster, crawls the
 * synthetic benchmark site of `--pages` pages, takes a full backup (pgBackRest from the standby
 * + a restic snapshot of the store), crawls a second site of `--more` pages (about 10 % more
 * images), takes an incremental one, then restores the latest into scratch directories (database
 * started and recovered, files restored). Prints each step's time and the repositories' sizes.
 * Uses its own cluster, Redis prefix and directories, and removes them.
 */
import { ChildProcess, fork } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BackupService } from '../src/backup/backup-service';
import { validateConfig } from '../src/config/load-config';
import { clusterDown, clusterUp, pgBinDir } from '../src/ha/local-cluster';
import { Runtime, prepareDatabase } from '../src/runtime';
import { runTool } from '../src/system/run-tool';
import { startWorkers } from '../src/workers/start-workers';
import { deleteRedisPrefix } from '../test/support/test-env';
import { freePortPair, freePort } from '../test/support/ports';

const { values } = parseArgs({ options: { pages: { type: 'string', default: '2000' }, more: { type: 'string', default: '200' } } });

function startSite(pages: number, seed: number): Promise<{ server: ChildProcess; startUrl: string }> {
  const server = fork(path.join(__dirname, 'site-server.ts'), [String(pages), '10', String(seed), 'auto', '0'], { execArgv: ['--import', 'tsx'] });
  return new Promise((resolve) => server.on('message', (m: { startUrl?: string }) => m?.startUrl && resolve({ server, startUrl: m.startUrl })));
}

const du = (dir: string) => Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);
const mb = (bytes: number) => +(bytes / 1e6).toFixed(1);

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const v = await fn();
  return [v, +((Date.now() - t0) / 1000).toFixed(1)];
}

async function main() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'image-crawler-backup-bench-'));
  fs.chmodSync(root, 0o755);
  const port = await freePortPair();
  const cluster = await clusterUp(path.join(root, 'cluster'), port);
  const nodes = cluster.nodes.map((n, i) => ({ name: n.name, url: n.url.replace(/\/postgres$/, '/image_crawler'), priority: 100 - i, data_dir: n.dataDir }));
  const config = validateConfig({
    database: { url: nodes[0].url, nodes },
    redis: { prefix: `backup-bench-${Date.now()}` },
    storage: { data_dir: path.join(root, 'data') },
    crawler: { allow_nets: ['127.0.0.0/8'], max_pages: 100_000, max_depth: 20 },
    worker: { download_concurrency: 64, crawl_concurrency: 16 },
    backup: { repository: path.join(root, 'repo'), socket_dir: cluster.dir, passphrase: randomBytes(24).toString('hex'), restore_test_port: await freePort() },
    log_level: 'warn',
  });
  await prepareDatabase(config);
  const rt = await Runtime.create(config);
  const workers = await startWorkers(rt);
  const backups = new BackupService(config, rt.knex, () => rt.router.primary);
  const crawl = async (pages: number, seed: number) => {
    const site = await startSite(pages, seed);
    const { id } = await rt.sessions.start({ urls: [site.startUrl], maxDepth: 20, maxPages: pages + 100 });
    while ((await rt.knex('crawl_sessions').where({ id }).first('status'))?.status === 'running') await new Promise((r) => setTimeout(r, 200));
    site.server.kill();
  };
  const rows = async () => Number((await rt.knex('images').count<{ n: string }[]>({ n: '*' }))[0].n);
  try {
    process.stderr.write(`crawling ${values.pages} pages…\n`);
    await crawl(Number(values.pages), 1);
    await backups.setup();
    const filesBytes = du(config.storage.data_dir);
    const rowsFirst = await rows();
    process.stderr.write('full backup…\n');
    const [full, fullS] = await timed(() => backups.run('full', 'cli'));
    const repoAfterFull = { pg: du(backups.pg.repoPath), files: du(backups.files.repoPath) };
    process.stderr.write(`crawling ${values.more} more pages…\n`);
    await crawl(Number(values.more), 2);
    const rowsSecond = await rows();
    process.stderr.write('incremental backup…\n');
    const [incr, incrS] = await timed(() => backups.run('incr', 'cli'));
    const repoAfterIncr = { pg: du(backups.pg.repoPath), files: du(backups.files.repoPath) };
    await backups.pg.archiveNow();
    process.stderr.write('restore…\n');
    const target = path.join(root, 'restored');
    fs.mkdirSync(target, { mode: 0o755 });
    const [, dbRestoreS] = await timed(() => backups.pg.restore(path.join(target, 'pg')));
    const [, filesRestoreS] = await timed(() => backups.files.restore(path.join(target, 'data')));
    const [, verifyS] = await timed(() => backups.verify('cli'));
    console.log(
      JSON.stringify(
        {
          imageRows: { first: rowsFirst, second: rowsSecond },
          storeMb: mb(filesBytes),
          full: { seconds: fullS, databaseMb: mb(full.database_bytes ?? 0), addedMb: mb((full.repository_bytes ?? 0) + (full.files_added_bytes ?? 0)) },
          repositoryAfterFullMb: { pg: mb(repoAfterFull.pg), files: mb(repoAfterFull.files) },
          incremental: { seconds: incrS, addedMb: mb((incr.repository_bytes ?? 0) + (incr.files_added_bytes ?? 0)) },
          repositoryAfterIncrMb: { pg: mb(repoAfterIncr.pg), files: mb(repoAfterIncr.files) },
          restoreSeconds: { database: dbRestoreS, files: filesRestoreS },
          verifySeconds: verifyS,
        },
        null,
        2,
      ),
    );
  } finally {
    await workers.close();
    await deleteRedisPrefix(config.redis.prefix);
    await rt.close();
    await runTool(path.join(pgBinDir(), 'pg_ctl'), ['-D', path.join(root, 'restored', 'pg'), '-m', 'immediate', 'stop'], { asPostgres: true }).catch(() => undefined);
    await clusterDown(cluster.dir, port).catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
