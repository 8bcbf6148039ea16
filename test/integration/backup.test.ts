import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import { createApp } from '../../src/api/app';
import { startBackupWorker } from '../../src/backup/backup-jobs';
import { BackupRow, BackupService, restoreBackup } from '../../src/backup/backup-service';
import { runCli, writeConfigFile } from '../support/cli';
import type { AppConfig } from '../../src/config/config-schema';
import { validateConfig } from '../../src/config/load-config';
import { pgBinDir } from '../../src/ha/local-cluster';
import { runTool } from '../../src/system/run-tool';
import { isInRecovery, query, startTestCluster, type TestCluster } from '../support/cluster-helpers';
import { type Handler, startServer } from '../support/hostile-server';
import { waitFor } from '../support/wait-for';
import { freePort } from '../support/ports';
import { startTestRuntime, tempDir, type TestRuntime } from '../support/test-env';

const API_TOKEN = 'backup-test-token-0123456789abcdef';
const PASSPHRASE = ['backup', 'test', 'passphrase', String(process.pid)].join('-');

/** Backups with the real pgBackRest and restic, of a real primary + standby cluster that crawled real images. */
describe('backups: pgBackRest for the database, restic for the files', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let t: TestRuntime;
  let backups: BackupService;
  let server: Awaited<ReturnType<typeof startServer>>;
  const routes: Record<string, Handler> = {};
  let root: string;
  let imageNo = 0;
  const restoredNodes: string[] = [];

  /** A crawl of a page of `n` new images; resolves with the session id once it completed. */
  async function crawl(n: number): Promise<string> {
    const page = `/page-${imageNo}`;
    const names = Array.from({ length: n }, () => `/img-${imageNo++}.png`);
    const bodies = await Promise.all(names.map((_, i) => sharp({ create: { width: 5, height: 5, channels: 3, background: { r: (imageNo + i) % 256, g: process.pid % 256, b: 99 } } }).png().toBuffer()));
    routes[page] = (_q, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(names.map((p) => `<img src="${p}">`).join(''));
    names.forEach((p, i) => (routes[p] = (_q, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(bodies[i])));
    const { id } = await t.rt.sessions.start({ urls: [`${server.origin}${page}`] });
    const view = await t.waitForSession(id);
    expect(view).to.include({ status: 'completed', images_stored: n });
    return id;
  }

  function serviceWith(backup: Record<string, unknown>): BackupService {
    const config = validateConfig({ ...cluster.config, backup: { ...cluster.config.backup, ...backup } } as unknown as Record<string, unknown>);
    return new BackupService(config, t.rt.knex, () => t.rt.router.primary);
  }

  async function imageRows(url: string): Promise<string[]> {
    const { rows } = await query(url, "SELECT session_id || ' ' || url || ' ' || status || ' ' || coalesce(sha256, '') AS r FROM images ORDER BY 1");
    return rows.map((r) => r.r as string);
  }

  /** A scratch directory the postgres user can enter (pgBackRest and the restored server run as it). */
  function scratch(name: string): string {
    const dir = path.join(root, `${name}-${Math.random().toString(36).slice(2, 8)}`);
    fs.mkdirSync(dir, { mode: 0o755 });
    return dir;
  }

  before(async () => {
    root = tempDir('backup');
    fs.chmodSync(root, 0o755);
    server = await startServer(routes);
    cluster = await startTestCluster({
      backup: { repository: path.join(root, 'repo'), passphrase: PASSPHRASE, restore_test_port: await freePort() },
    });
    // The socket directory is the cluster's (known once it exists).
    (cluster.config as AppConfig).backup.socket_dir = cluster.dir;
    t = await startTestRuntime(cluster.config);
    backups = new BackupService(cluster.config, t.rt.knex, () => t.rt.router.primary);
    await backups.setup();
  });

  after(async () => {
    for (const dir of restoredNodes) await runTool(path.join(pgBinDir(), 'pg_ctl'), ['-D', dir, '-m', 'immediate', '-w', 'stop'], { asPostgres: true }).catch(() => undefined);
    await t?.close();
    await server?.close();
    await cluster?.close();
  });

  it('full backup from the standby, incremental after more images; a restore to a moment between two crawls has exactly the rows of that moment', async () => {
    const first = await crawl(6);
    const full = await backups.run('full', 'cli');
    expect(full).to.include({ kind: 'full', status: 'ok', source_node: 'node2' });
    expect(full.label).to.match(/F$/);
    expect(full.files_snapshot).to.be.a('string');

    const second = await crawl(4);
    await new Promise((r) => setTimeout(r, 1100)); // commit timestamps on either side of the target
    const between = new Date();
    await new Promise((r) => setTimeout(r, 1100));
    const third = await crawl(3);
    const incr = await backups.run('incr', 'cli');
    expect(incr).to.include({ kind: 'incr', status: 'ok' });
    expect(incr.label).to.match(/I$/);
    await backups.pg.archiveNow();

    const pgDir = path.join(scratch('pitr'), 'pg');
    restoredNodes.push(pgDir);
    // Through the command line, as after a disaster: no Redis (a dead port) and no cluster needed.
    const configFile = writeConfigFile({ ...cluster.config, backup: { ...cluster.config.backup, passphrase: undefined } } as AppConfig);
    const args = ['backup', 'restore', '--pg-dir', pgDir, '--pg-port', String(await freePort()), '--data-dir', scratch('pitr-files'), '--time', between.toISOString(), '--json', '--config', configFile];
    const cli = await runCli(args, { BACKUP_PASSPHRASE: PASSPHRASE, REDIS_URL: 'redis://127.0.0.1:1' });
    expect(cli.code, cli.stderr).to.equal(0);
    const { url } = JSON.parse(cli.stdout) as { url: string };
    const counts = await query(url, 'SELECT session_id, count(*)::int AS n FROM images GROUP BY 1');
    const bySession = Object.fromEntries(counts.rows.map((r) => [r.session_id, r.n]));
    expect(bySession[first]).to.equal(6);
    expect(bySession[second]).to.equal(4);
    expect(bySession[third], 'the crawl after the target time is not in the restore').to.equal(undefined);
  });

  it('a restore of the latest has every image row, and every file byte-identical', async () => {
    await crawl(5);
    await backups.run('incr', 'cli');
    await backups.pg.archiveNow();
    const pgDir = path.join(scratch('latest'), 'pg');
    restoredNodes.push(pgDir);
    const dataDir = scratch('latest-files');
    const { url } = await restoreBackup(cluster.config, { pgDir, pgPort: await freePort(), dataDir });
    expect(await imageRows(url)).to.deep.equal(await imageRows(cluster.nodes[0].url));
    const stored = await query(url, "SELECT DISTINCT file_path FROM images WHERE status = 'stored'");
    expect(stored.rows.length).to.be.greaterThan(10);
    for (const { file_path: f } of stored.rows) {
      const original = fs.readFileSync(path.resolve(t.rt.config.storage.data_dir, 'images', f));
      const restored = fs.readFileSync(path.join(dataDir, 'images', f));
      expect(createHash('sha256').update(restored).digest('hex'), f).to.equal(createHash('sha256').update(original).digest('hex'));
    }
  });

  it('the repositories cannot be read without the passphrase', async () => {
    const info = fs.readFileSync(path.join(root, 'repo', 'pg', 'backup', cluster.config.backup.stanza, 'backup.info'));
    expect(info.subarray(0, 8).toString(), 'pgBackRest encrypts its files (openssl format)').to.equal('Salted__');
    expect(info.includes('backup:current'), 'no plain text').to.equal(false);
    const wrong = serviceWith({ passphrase: 'not-the-passphrase-at-all' });
    const err = await wrong.files.snapshots().then(() => null, (e: Error) => e);
    expect(err?.message).to.match(/wrong password|no key found/i);
    const noPass = serviceWith({ passphrase: undefined });
    const refused = await noPass.run('incr', 'cli').then(() => null, (e: Error) => e);
    expect(refused?.message).to.match(/BACKUP_PASSPHRASE/);
  });

  it('verify passes on a sound repository (with a restore test), and fails when a repository file is corrupted', async () => {
    if ((await backups.pg.info()).length === 0) await backups.run('full', 'cli'); // when run alone
    const good = await backups.verify('cli');
    expect(good.checks.filter((c) => !c.ok)).to.deep.equal([]);
    expect(good.row).to.include({ kind: 'verify', status: 'ok' });

    const backupDir = path.join(root, 'repo', 'pg', 'backup', cluster.config.backup.stanza);
    const label = fs.readdirSync(backupDir).filter((d) => /F$/.test(d)).sort()[0];
    const victim = findFile(path.join(backupDir, label, 'pg_data', 'base'));
    const original = fs.readFileSync(victim);
    fs.writeFileSync(victim, Buffer.concat([original.subarray(0, original.length - 16), Buffer.alloc(16, 7)]));
    try {
      const bad = await backups.verify('cli');
      expect(bad.ok).to.equal(false);
      expect(bad.checks.find((c) => c.name === 'pgbackrest verify')?.ok).to.equal(false);
      expect(bad.row).to.include({ kind: 'verify', status: 'failed' });
    } finally {
      fs.writeFileSync(victim, original);
    }
  });

  it('retention keeps the configured number of full backups and file snapshots, and removes nothing else', async () => {
    const keepOne = serviceWith({ retention: { full: 1, diff: 1, files_last: 2 } });
    const before = await keepOne.pg.info();
    expect(before.filter((b) => b.type === 'full')).to.have.length(1);
    const latest = await keepOne.run('full', 'cli');
    const after = await keepOne.pg.info();
    expect(after.map((b) => b.label), 'the old full and its incrementals expired').to.deep.equal([latest.label]);
    const snapshots = await keepOne.files.snapshots();
    expect(snapshots).to.have.length(2);
    expect(snapshots.map((s) => s.id)).to.include(latest.files_snapshot);
  });

  it('the backup process takes backups asked for through the API; the API, the metrics and the CLI show them; overdue kinds alert', async () => {
    const worker = await startBackupWorker(t.rt);
    const app = createApp(t.rt, API_TOKEN);
    const http = await new Promise<import('node:http').Server>((resolve) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
    });
    const base = `http://127.0.0.1:${(http.address() as import('node:net').AddressInfo).port}`;
    const auth = { Authorization: `Bearer ${API_TOKEN}` };
    try {
      const bad = await fetch(`${base}/api/backups`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'weekly' }) });
      expect(bad.status).to.equal(400);
      const queued = await fetch(`${base}/api/backups`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'diff' }) });
      expect(queued.status).to.equal(202);
      const row = await waitFor(
        'the requested diff backup recorded',
        async () => {
          const list = (await (await fetch(`${base}/api/backups`, { headers: auth })).json()) as { backups: BackupRow[] };
          return list.backups.find((b) => b.trigger === 'api' && b.kind === 'diff' && b.status !== 'running');
        },
        90_000,
      );
      expect(row).to.include({ status: 'ok' });
      expect(row.label).to.match(/D$/);
      const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
      expect(metrics).to.match(/image_crawler_backup_last_good_age_seconds\{kind="diff"\} \d/);

      const late = await worker.checkOverdue(new Date(Date.now() + 30 * 24 * 3600_000));
      expect(late.map((l) => l.split(':')[0])).to.have.members(['full', 'diff', 'incr', 'verify']);
      expect(await worker.checkOverdue(), 'nothing is overdue right after the backups').to.deep.equal([]);
    } finally {
      await new Promise((r) => http.close(r));
      await worker.close();
    }
    const configFile = writeConfigFile({ ...cluster.config, backup: { ...cluster.config.backup, passphrase: undefined } } as AppConfig);
    const cli = await runCli(['backup', 'list', '--json', '--config', configFile], { BACKUP_PASSPHRASE: PASSPHRASE });
    expect(cli.code, cli.stderr).to.equal(0);
    const listed = JSON.parse(cli.stdout) as BackupRow[];
    expect(listed.map((b) => b.kind)).to.include.members(['full', 'diff']);
  });

  it('a backup after a failover is taken from the new topology', async () => {
    await runTool(path.join(pgBinDir(), 'pg_ctl'), ['-D', cluster.nodes[0].data_dir, '-m', 'immediate', '-w', 'stop'], { asPostgres: true });
    // The workers' health checks fail over to node2; the backups follow the router.
    await waitFor('node2 is the primary and takes writes', async () => t.rt.router.primary === 'node2' && !(await isInRecovery(cluster.nodes[1].url)), 60_000);
    await crawl(2);
    const row = await backups.run('full', 'cli');
    expect(row).to.include({ status: 'ok', source_node: 'node2' });
  });
});

function findFile(dir: string): string {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isFile() && fs.statSync(p).size > 64) return p;
    if (entry.isDirectory()) {
      const found = findFile(p);
      if (found) return found;
    }
  }
  return '';
}
