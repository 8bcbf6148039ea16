import { startBackupWorker } from '../../backup/backup-jobs';
import { BackupRow, BackupService, RestoreOptions, restoreBackup } from '../../backup/backup-service';
import { cliActor, recordAudit } from '../../audit/audit-log';
import { loadConfig } from '../../config/load-config';
import { ConfigError } from '../../errors';
import { getLogger } from '../../logger';
import { Runtime } from '../../runtime';
import { UsageError, intOption, parse, quietLogs } from '../args';
import { untilSignal } from './serve';

const log = getLogger('cli');

export const BACKUP_HELP = `image-crawler backup setup | run [--type full|diff|incr] | list | verify | restore --pg-dir DIR --pg-port N --data-dir DIR2 [--time ISO8601] | worker   [--json]

  setup    point every node's archive_command at pgBackRest (on this host: database.nodes[].data_dir),
           create the repositories, check that WAL reaches them (needs archive_mode = on)
  run      a database backup (default incr; the first is always full) and a snapshot of the image store now
  list     every backup and verification, newest first
  verify   pgbackrest verify, restic check and a restore test; exits 1 when anything fails
  restore  the database (as of --time, default the latest archived) into the empty DIR, started
           on port N as a primary of its own, and the image files into DIR2 (a data directory)
  worker   the \`backup\` process: scheduled backups and verifications (backup.schedule), alerts
Needs BACKUP_PASSPHRASE (unless backup.encryption is false); run it on the database host.`;

export async function backupCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { type: { type: 'string' }, 'pg-dir': { type: 'string' }, 'pg-port': { type: 'string' }, 'data-dir': { type: 'string' }, time: { type: 'string' }, verbose: { type: 'boolean' } },
    true,
  );
  const action = positionals[0];
  if (values.help || !['setup', 'run', 'list', 'verify', 'restore', 'worker'].includes(action ?? '')) {
    if (!values.help) throw new UsageError('backup needs a subcommand: setup, run, list, verify, restore or worker');
    console.log(BACKUP_HELP);
    return 0;
  }
  const type = values.type ?? 'incr';
  if (!['full', 'diff', 'incr'].includes(type)) throw new UsageError(`--type must be full, diff or incr, got "${type}"`);
  let restoreOptions: RestoreOptions | undefined;
  if (action === 'restore') {
    const pgPort = intOption(values['pg-port'], 'pg-port', 1);
    if (!values['pg-dir'] || !values['data-dir'] || pgPort === undefined) throw new UsageError('restore needs --pg-dir DIR --pg-port N --data-dir DIR2');
    const time = values.time ? new Date(values.time) : undefined;
    if (time && Number.isNaN(time.getTime())) throw new UsageError(`--time must be an ISO 8601 moment (2026-12-03T09:30:00Z), got "${values.time}"`);
    restoreOptions = { pgDir: values['pg-dir'], pgPort, dataDir: values['data-dir'], time };
  }
  const config = loadConfig({ file: values.config, overrides: action === 'worker' ? {} : quietLogs(values.verbose) });
  if (action !== 'list' && config.backup.encryption && !config.backup.passphrase) {
    throw new ConfigError('backup needs BACKUP_PASSPHRASE (it encrypts the repositories; backup.encryption: false to store them unencrypted)');
  }
  if (action === 'restore') {
    // After a disaster there is no cluster and maybe no Redis: the restore needs neither.
    const r = await restoreBackup(config, restoreOptions as RestoreOptions).catch((err: Error) => {
      process.stderr.write(`image-crawler backup restore: ${err.message}\n`);
      return null;
    });
    if (!r) return 1;
    log.warn('backup restored', { url: r.url, dataDir: restoreOptions?.dataDir, time: values.time ?? 'latest' });
    console.log(
      values.json
        ? JSON.stringify(r)
        : `restored: database running at ${r.url} (last transaction ${r.restoredTo?.toISOString() ?? 'none replayed'}), files in ${restoreOptions?.dataDir}\npoint the system at it: database.url ${r.url}, storage.data_dir ${restoreOptions?.dataDir}`,
    );
    return 0;
  }
  const rt = await Runtime.create(config);
  const service = new BackupService(config, rt.knex, () => rt.router.primary, rt.redis);
  let outcome = 'error';
  try {
    const code = await run().catch((err: Error) => {
      // A tool's failure is the outcome, said in one line (it is recorded in `backups` too).
      process.stderr.write(`image-crawler backup ${action}: ${err.message}\n`);
      return 1;
    });
    outcome = code === 0 ? 'ok' : `exit ${code}`;
    return code;
  } finally {
    if (action !== 'list' && action !== 'worker') {
      await recordAudit(rt.knex, { actor: cliActor(), role: 'admin', ip: null, action: `cli backup ${action}`, target: null, params: { type: action === 'run' ? type : null, time: values.time ?? null, pgDir: values['pg-dir'] ?? null }, outcome }).catch(() => undefined);
    }
    await rt.close();
  }

  async function run(): Promise<number> {
    const print = (v: unknown, text: string) => console.log(values.json ? JSON.stringify(v) : text);
    switch (action) {
      case 'setup':
        await service.setup();
        print({ ok: true, database: service.pg.repoPath, files: service.files.repoPath }, `archiving to ${service.pg.repoPath}; files to ${service.files.repoPath}: ok`);
        return 0;
      case 'run': {
        const hasFull = (await service.lastGood()).full !== undefined;
        const row = await service.run(hasFull ? (type as 'full' | 'diff' | 'incr') : 'full', 'cli');
        print(row, formatRow(row));
        return 0;
      }
      case 'list': {
        const rows = await service.list();
        if (values.json) console.log(JSON.stringify(rows));
        else console.log(rows.length ? rows.map(formatRow).join('\n') : 'no backups yet (image-crawler backup run)');
        return 0;
      }
      case 'verify': {
        const r = await service.verify('cli');
        print({ ok: r.ok, checks: r.checks }, [...r.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`), r.ok ? 'ok' : 'NOT ok'].join('\n'));
        return r.ok ? 0 : 1;
      }
      default: {
        const worker = await startBackupWorker(rt);
        log.info('backup process started', { schedule: config.backup.schedule });
        await untilSignal();
        await worker.close();
        return 0;
      }
    }
  }
}

function formatRow(r: BackupRow): string {
  const size = (n: number | null) => (n === null ? '-' : `${(n / 1e6).toFixed(1)} MB`);
  const when = `${r.started_at.toISOString().slice(0, 19)}Z`;
  return `#${r.id} ${when} ${r.kind.padEnd(6)} ${r.status.padEnd(7)} ${r.label ?? ''}${r.files_snapshot ? ` files ${r.files_snapshot}` : ''}${r.source_node ? ` from ${r.source_node}` : ''}  db ${size(r.database_bytes)}, added ${size(r.repository_bytes)} + files ${size(r.files_added_bytes)}${r.error ? `  error: ${r.error}` : ''}`;
}
