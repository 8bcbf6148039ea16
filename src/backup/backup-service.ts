import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { publishEvent } from '../events/event-bus';
import pg from 'pg';
import type { AppConfig, NodeConfig } from '../config/config-schema';
import { bucketRowSums, connectNode, fingerprint, type NodeClient } from '../consistency/node-fingerprint';
import { TABLE_SPECS } from '../consistency/table-specs';
import { pgBinDir } from '../ha/local-cluster';
import { getLogger } from '../logger';
import { ContentStore } from '../storage/content-store';
import { runTool } from '../system/run-tool';
import { DatabaseBackupType, PgBackRest } from './pgbackrest';
import { Restic } from './restic';

const log = getLogger('backup');

export type BackupKind = DatabaseBackupType | 'verify';
export type BackupTrigger = 'schedule' | 'cli' | 'api';

export interface BackupRow {
  id: number;
  kind: BackupKind;
  status: 'running' | 'ok' | 'failed';
  trigger: BackupTrigger;
  started_at: Date;
  finished_at: Date | null;
  label: string | null;
  files_snapshot: string | null;
  source_node: string | null;
  database_bytes: number | null;
  repository_bytes: number | null;
  files_added_bytes: number | null;
  details: Record<string, unknown>;
  error: string | null;
}

/** What a verification found: each part and whether it passed. */
export interface VerifyResult {
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string; ms: number }[];
}

export interface RestoreOptions {
  /** Empty directory the database is restored into, then started from. */
  pgDir: string;
  pgPort: number;
  /** Directory the image files are restored into (a store). */
  dataDir: string;
  /** Restore the database as it was at this moment; default the latest archived. */
  time?: Date;
}

/** Files a restore test restores from the latest snapshot and checks against their names (sha256). */
const SAMPLE_FILES = 20;

/**
 * Backups of the database (pgBackRest, WAL archived: any moment restorable) and of the image
 * store (restic), each run recorded in the `backups` table; verification of both repositories
 * plus a restore test; and restores. The `backup` process runs it on schedule (backup-jobs.ts);
 * the CLI and the API run it on demand.
 */
export class BackupService {
  readonly pg: PgBackRest;
  readonly files: Restic;

  constructor(
    private readonly config: AppConfig,
    /** The current primary's pool. */
    private readonly knex: Knex,
    /** Name of the current primary. */
    private readonly primary: () => string,
    /** Where outcomes are published as live events (see events/event-bus.ts); none in tests of the service alone. */
    private readonly redis?: Redis,
  ) {
    this.pg = new PgBackRest(config.backup, databaseNodes(config));
    this.files = new Restic(config.backup);
  }

  /** Points every node's archive_command at pgBackRest (each node keeps it after a failover), creates the stanza, checks archiving. */
  async setup(): Promise<void> {
    this.pg.writeConfig();
    for (const node of databaseNodes(this.config)) {
      const c = await connectNode(node.url, 30_000).catch((err: Error) => {
        // A standby that is down gets its archive_command when setup runs again (each backup process start).
        log.warn('backup setup: node unreachable, its archive_command is left as it was', { node: node.name, error: err.message });
        return null;
      });
      if (!c) continue;
      try {
        const mode = (await c.query("SELECT setting FROM pg_settings WHERE name = 'archive_mode'")).rows[0].setting as string;
        await c.query(`ALTER SYSTEM SET archive_command = ${pg.escapeLiteral(this.pg.archiveCommand(node.data_dir))}`);
        await c.query('SELECT pg_reload_conf()');
        if (mode === 'off') {
          throw new Error(`${node.name} runs with archive_mode = off: set archive_mode = on (ALTER SYSTEM SET archive_mode = on) and restart it, then run backup setup again`);
        }
      } finally {
        await c.end();
      }
    }
    await this.pg.setup();
    await this.files.init();
  }

  /** A database backup of `type` and a snapshot of the image store, recorded as one row. */
  async run(type: DatabaseBackupType, trigger: BackupTrigger): Promise<BackupRow> {
    const row = await this.begin(type, trigger);
    try {
      await this.checkpointAfterPromotion();
      const source = await this.standbyToCopyFrom();
      const db = await this.pg.backup(type, source !== null);
      // restic snapshots a directory: a bucket is protected by its own versioning or replication.
      const inBucket = this.config.storage.backend === 's3';
      if (inBucket) log.warn('image files are in an S3 bucket: this backup holds the database only', { bucket: this.config.storage.s3.bucket });
      const snapshot = inBucket ? null : await this.files.backup(this.config.storage.data_dir, db.label);
      await this.files.forget();
      return await this.finish(row.id, 'ok', {
        label: db.label,
        files_snapshot: snapshot?.id ?? null,
        source_node: source ?? this.primary(),
        database_bytes: db.databaseBytes,
        repository_bytes: db.repositoryBytes,
        files_added_bytes: snapshot?.addedBytes ?? null,
        details: { prior: db.prior, files: snapshot ? snapshot.files : inBucket ? `not backed up here: the files are in s3://${this.config.storage.s3.bucket} (keep it versioned or replicated)` : 'no file stored yet' },
      });
    } catch (err) {
      await this.finish(row.id, 'failed', { error: (err as Error).message });
      throw err;
    }
  }

  /**
   * pgbackrest verify, restic check, and a restore test: the latest backup restored into a
   * scratch directory and started on `backup.restore_test_port`, its tables compared with the
   * primary's (rows changed on the primary since the restore point aside), and a sample of files
   * restored and hashed.
   */
  async verify(trigger: BackupTrigger): Promise<VerifyResult & { row: BackupRow }> {
    const row = await this.begin('verify', trigger);
    const checks: VerifyResult['checks'] = [];
    const step = async (name: string, fn: () => Promise<string>) => {
      const started = Date.now();
      try {
        checks.push({ name, ok: true, detail: await fn(), ms: Date.now() - started });
      } catch (err) {
        checks.push({ name, ok: false, detail: (err as Error).message, ms: Date.now() - started });
      }
    };
    await step('pgbackrest verify', async () => {
      await this.pg.verify();
      return 'every backup and WAL file matches its checksum';
    });
    await step('restic check', async () => {
      await this.files.check();
      return 'repository structure and a tenth of the data read back';
    });
    await step('restore test', () => this.restoreTest());
    const ok = checks.every((c) => c.ok);
    const failed = checks.filter((c) => !c.ok);
    const done = await this.finish(row.id, ok ? 'ok' : 'failed', {
      details: { checks },
      error: ok ? null : failed.map((c) => `${c.name}: ${c.detail}`).join('; '),
    });
    return { ok, checks, row: done };
  }

  /** Every run, newest first. */
  async list(limit = 100): Promise<BackupRow[]> {
    const rows = await this.knex<BackupRow>('backups').orderBy('id', 'desc').limit(limit);
    return rows.map(numeric);
  }

  /** The last good run of each kind. */
  async lastGood(): Promise<Partial<Record<BackupKind, BackupRow>>> {
    return Object.fromEntries((await lastGoodBackups(this.knex)).map((r) => [r.kind, r]));
  }

  private async begin(kind: BackupKind, trigger: BackupTrigger): Promise<BackupRow> {
    const [row] = await this.knex<BackupRow>('backups').insert({ kind, trigger, status: 'running' }).returning('*');
    log.info('backup started', { id: row.id, kind, trigger });
    return row;
  }

  private async finish(id: number, status: 'ok' | 'failed', fields: Partial<BackupRow>): Promise<BackupRow> {
    const [row] = await this.knex<BackupRow>('backups')
      .where({ id })
      .update({ ...fields, status, finished_at: this.knex.fn.now() } as never)
      .returning('*');
    if (this.redis) {
      await publishEvent(this.redis, this.config.redis.prefix, { type: 'backup', id: row.id, kind: row.kind, status: row.status, label: row.label, error: row.error, at: new Date().toISOString() });
    }
    if (status === 'ok') log.info('backup finished', { id, kind: row.kind, label: row.label, snapshot: row.files_snapshot });
    else log.error('backup failed', { id, kind: row.kind, error: row.error });
    return numeric(row);
  }

  /**
   * A freshly promoted primary's control file still names the old timeline until its first
   * checkpoint, and pgBackRest refuses to back it up ("WAL timeline 2 does not match pg_control
   * timeline 1"): checkpoint first when that is so.
   */
  private async checkpointAfterPromotion(): Promise<void> {
    const { rows } = await this.knex.raw('SELECT (SELECT timeline_id FROM pg_control_checkpoint()) AS control, pg_walfile_name(pg_current_wal_lsn()) AS wal');
    const walTimeline = parseInt((rows[0].wal as string).slice(0, 8), 16);
    if (Number(rows[0].control) !== walTimeline) {
      log.info('checkpoint of a newly promoted primary before its backup', { timeline: walTimeline });
      await this.knex.raw('CHECKPOINT');
    }
  }

  /** A standby streaming from the primary whose data directory pgBackRest can read, or null. */
  private async standbyToCopyFrom(): Promise<string | null> {
    const local = new Set(databaseNodes(this.config).map((n) => n.name));
    const { rows } = await this.knex.raw("SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'");
    const standby = (rows as { application_name: string }[]).find((r) => local.has(r.application_name) && r.application_name !== this.primary());
    return standby?.application_name ?? null;
  }

  private async restoreTest(): Promise<string> {
    await this.pg.archiveNow();
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'image-crawler-restore-test-'));
    const pgDir = path.join(scratch, 'pg');
    const filesDir = path.join(scratch, 'files');
    fs.chmodSync(scratch, 0o755);
    let restored: NodeClient | null = null;
    try {
      await this.pg.restore(pgDir, undefined, { retry: false }); // a local repository: a failure is not transient
      const url = await startRestored(this.config, pgDir, this.config.backup.restore_test_port);
      restored = await connectNode(url);
      const differences = await compareWithPrimary(restored, await connectNode(this.primaryUrl()));
      if (differences.length > 0) throw new Error(`the restored database differs from the primary: ${differences.join('; ')}`);
      const sample = (await restored.query(`SELECT DISTINCT file_path FROM images WHERE status = 'stored' AND file_path IS NOT NULL ORDER BY file_path LIMIT ${SAMPLE_FILES}`)).rows.map((r) => r.file_path as string);
      if (sample.length > 0) {
        await this.files.restore(filesDir, 'latest', sample.map((f) => `/images/${f}`));
        for (const f of sample) {
          const file = path.join(filesDir, 'images', f);
          if (!fs.existsSync(file)) throw new Error(`${f} is not in the latest files snapshot`);
          const sha = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
          if (sha !== ContentStore.parseName(path.basename(f)).sha256) throw new Error(`${f} restored with other bytes (sha256 ${sha})`);
        }
      }
      return `restored, started and compared with the primary; ${sample.length} file(s) restored byte-identical`;
    } finally {
      await restored?.end().catch(() => undefined);
      await runTool(path.join(pgBinDir(), 'pg_ctl'), ['-D', pgDir, '-m', 'immediate', '-w', 'stop'], { asPostgres: true }).catch(() => undefined);
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }

  private primaryUrl(): string {
    return this.config.database.nodes.find((n) => n.name === this.primary())?.url ?? this.config.database.url;
  }
}

/**
 * Restores the database (latest, or as it was at `time`) into `pgDir` and starts it on `pgPort`
 * as a primary of its own, and the image files of the latest snapshot into `dataDir`. Needs
 * neither the cluster nor Redis: it is what is left after a disaster. Returns the restored
 * node's URL and the moment of its last transaction.
 */
export async function restoreBackup(config: AppConfig, opts: RestoreOptions): Promise<{ url: string; restoredTo: Date | null }> {
  const pgb = new PgBackRest(config.backup, databaseNodes(config));
  await pgb.restore(opts.pgDir, opts.time);
  const url = await startRestored(config, opts.pgDir, opts.pgPort);
  const c = await connectNode(url, 30_000);
  let restoredTo: Date | null;
  try {
    restoredTo = (await c.query('SELECT pg_last_xact_replay_timestamp() AS at')).rows[0].at;
  } finally {
    await c.end();
  }
  await new Restic(config.backup).restore(opts.dataDir);
  return { url, restoredTo };
}

/** Starts a restored data directory on `port` (its own, not the source's) and waits for recovery to finish; returns its URL (database and user as in database.url). */
async function startRestored(config: AppConfig, pgDir: string, port: number): Promise<string> {
  const dir = path.resolve(pgDir);
  // Later lines win: the copy carries its source node's port and socket directory.
  // TCP only: the source's socket directory may not exist here.
  fs.appendFileSync(path.join(dir, 'postgresql.conf'), `\n# image-crawler backup restore\nport = ${port}\nunix_socket_directories = ''\ncluster_name = 'restored'\n`);
  const logFile = path.join(dir, 'restore.log');
  await runTool(path.join(pgBinDir(), 'pg_ctl'), ['-D', dir, '-l', logFile, '-w', '-t', '600', 'start'], { asPostgres: true, timeoutMs: 660_000 }).catch((err: Error) => {
    const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
    throw new Error(`the restored database did not start: ${err.message}\n${tail}`);
  });
  const url = new URL(config.database.url);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const deadline = Date.now() + 600_000;
  for (;;) {
    const c = await connectNode(url.toString(), 10_000).catch(() => null);
    const promoted = c ? !(await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r : false;
    await c?.end();
    if (promoted) return url.toString();
    if (Date.now() > deadline) throw new Error('the restored database did not finish recovery within 10 minutes');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The last good run of each kind, from the `backups` table. */
export async function lastGoodBackups(knex: Knex): Promise<BackupRow[]> {
  const rows = await knex<BackupRow>('backups').distinctOn('kind').where({ status: 'ok' }).orderBy([{ column: 'kind' }, { column: 'finished_at', order: 'desc' }]);
  return rows.map(numeric);
}

/** The nodes pgBackRest reads: those with a data directory on this host. */
function databaseNodes(config: AppConfig): (NodeConfig & { data_dir: string })[] {
  return config.database.nodes.filter((n): n is NodeConfig & { data_dir: string } => Boolean(n.data_dir));
}

/**
 * The restored node against the primary, table by table and bucket by bucket. A bucket that
 * differs only because the primary wrote to it after the restore point is not a difference.
 */
async function compareWithPrimary(restored: NodeClient, primary: NodeClient): Promise<string[]> {
  try {
    const restoredAt = (await restored.query('SELECT pg_last_xact_replay_timestamp() AS at')).rows[0].at as Date | null;
    const differences: string[] = [];
    for (const spec of TABLE_SPECS) {
      const [a, b] = [await fingerprint(restored, spec, 1000), await fingerprint(primary, spec, 1000)];
      for (const bucket of new Set([...a.buckets.keys(), ...b.buckets.keys()])) {
        if (a.buckets.get(bucket) === b.buckets.get(bucket)) continue;
        const [ra, rb] = [await bucketRowSums(restored, spec, 1000, bucket), await bucketRowSums(primary, spec, 1000, bucket)];
        const keys = [...new Set([...ra.keys(), ...rb.keys()])].filter((k) => ra.get(k) !== rb.get(k));
        const { rows } = await primary.query(
          `SELECT ${pg.escapeIdentifier(spec.key)}::text AS k FROM ${pg.escapeIdentifier(spec.table)} WHERE ${pg.escapeIdentifier(spec.key)}::text = ANY($1) AND ${pg.escapeIdentifier(spec.latest)} > $2`,
          [keys, restoredAt ?? new Date(0)],
        );
        const changedSince = new Set(rows.map((r) => r.k as string));
        const unexplained = keys.filter((k) => !changedSince.has(k));
        if (unexplained.length > 0) differences.push(`${spec.table}: ${unexplained.length} row(s) differ (${unexplained.slice(0, 5).join(', ')})`);
      }
    }
    return differences;
  } finally {
    await primary.end().catch(() => undefined);
  }
}

function numeric(row: BackupRow): BackupRow {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return { ...row, id: Number(row.id), database_bytes: n(row.database_bytes), repository_bytes: n(row.repository_bytes), files_added_bytes: n(row.files_added_bytes) };
}
