import fs from 'node:fs';
import path from 'node:path';
import type { BackupConfig, NodeConfig } from '../config/config-schema';
import { repositoryPassphrase } from './passphrase';
import { ToolError, ownByPostgres, runTool } from '../system/run-tool';

export type DatabaseBackupType = 'full' | 'diff' | 'incr';

/** One database backup as `pgbackrest info` describes it. */
export interface DatabaseBackupInfo {
  label: string;
  type: DatabaseBackupType;
  startedAt: Date;
  finishedAt: Date;
  /** Bytes of the database the backup stands for, and what it added to the repository. */
  databaseBytes: number;
  repositoryBytes: number;
  /** The backup it depends on (differential and incremental). */
  prior: string | null;
}

/** A node pgBackRest reads: its data directory on this host, and its port. */
interface PgNode {
  name: string;
  dataDir: string;
  port: number;
}

/**
 * pgBackRest, the PostgreSQL world's backup tool, driven through its command line: the
 * configuration file it reads (every node of the cluster whose data directory is on this host,
 * the repository, its cipher) is written by us from the config; the tool itself runs as the
 * `postgres` user, which owns the data directories. WAL reaches the repository through each
 * node's archive_command (`setup`), so a restore can stop at any moment after the oldest full
 * backup.
 */
export class PgBackRest {
  readonly repoPath: string;
  readonly configFile: string;
  private readonly nodes: PgNode[];

  /** @param nodes the nodes whose data directories are on this host (see BackupService). */
  constructor(private readonly config: BackupConfig, nodes: (NodeConfig & { data_dir: string })[]) {
    this.repoPath = path.resolve(config.repository, 'pg');
    this.configFile = path.resolve(config.pgbackrest_config ?? `${path.resolve(config.repository)}.pgbackrest.conf`);
    this.nodes = nodes.map((n) => ({ name: n.name, dataDir: path.resolve(n.data_dir), port: Number(new URL(n.url).port || 5432) }));
  }

  /**
   * The archive_command a node runs for each finished WAL segment. `%p` is relative to the
   * node's own data directory, so each node names itself as pg1 (else a standby promoted later
   * would push the old primary's files of the same name).
   */
  archiveCommand(dataDir: string): string {
    return `pgbackrest --config=${this.configFile} --stanza=${this.config.stanza} --pg1-path=${path.resolve(dataDir)} archive-push %p`;
  }

  /**
   * Writes the configuration file (0600, the postgres user's: it holds the cipher passphrase)
   * and makes the repository directory. Called before every command, so a changed config is
   * always the one used.
   */
  writeConfig(): void {
    if (this.nodes.length === 0) {
      throw new Error('no database node has a data_dir on this host: pgBackRest reads the data directory (database.nodes[].data_dir)');
    }
    const c = this.config;
    const lines = [
      '# Written by image-crawler from its configuration (backup:); edits are overwritten.',
      '[global]',
      `repo1-path=${this.repoPath}`,
      `repo1-retention-full=${c.retention.full}`,
      `repo1-retention-diff=${c.retention.diff}`,
      `compress-type=${c.compression === 'zstd' ? 'zst' : 'none'}`,
      'log-level-console=warn',
      'log-level-stderr=error',
      'log-level-file=off',
      `lock-path=${path.join(this.repoPath, '.lock')}`,
      'start-fast=y',
      'archive-timeout=60',
    ];
    const passphrase = repositoryPassphrase(c);
    if (passphrase) lines.push('repo1-cipher-type=aes-256-cbc', `repo1-cipher-pass=${passphrase}`);
    lines.push('', `[${c.stanza}]`);
    this.nodes.forEach((n, i) => {
      lines.push(`pg${i + 1}-path=${n.dataDir}`, `pg${i + 1}-port=${n.port}`);
      if (c.socket_dir) lines.push(`pg${i + 1}-socket-path=${path.resolve(c.socket_dir)}`);
    });
    fs.mkdirSync(path.dirname(this.configFile), { recursive: true });
    fs.writeFileSync(this.configFile, lines.join('\n') + '\n', { mode: 0o600 });
    fs.chmodSync(this.configFile, 0o600);
    ownByPostgres(this.configFile);
    fs.mkdirSync(this.repoPath, { recursive: true, mode: 0o750 });
    ownByPostgres(path.resolve(this.config.repository));
    ownByPostgres(this.repoPath);
  }

  /** Creates the stanza (idempotent) and checks that WAL archiving reaches the repository. */
  async setup(): Promise<void> {
    this.writeConfig();
    await this.run(['stanza-create']);
    await this.run(['check']);
  }

  /** Takes a backup; from a standby when `fromStandby` (pgBackRest copies the files from it, asks the primary only for start/stop). */
  async backup(type: DatabaseBackupType, fromStandby: boolean): Promise<DatabaseBackupInfo> {
    this.writeConfig();
    await this.run([`--type=${type}`, fromStandby ? '--backup-standby' : '--no-backup-standby', 'backup'], 3_600_000);
    const backups = await this.info();
    const last = backups[backups.length - 1];
    if (!last) throw new Error('pgbackrest reported no backup after taking one');
    return last;
  }

  /** Every backup in the repository, oldest first. */
  async info(): Promise<DatabaseBackupInfo[]> {
    this.writeConfig();
    const out = JSON.parse(await this.run(['--output=json', 'info'])) as PgBackRestInfo[];
    const stanza = out.find((s) => s.name === this.config.stanza);
    return (stanza?.backup ?? []).map((b) => ({
      label: b.label,
      type: b.type,
      startedAt: new Date(b.timestamp.start * 1000),
      finishedAt: new Date(b.timestamp.stop * 1000),
      databaseBytes: b.info.size,
      repositoryBytes: b.info.repository.delta,
      prior: b.prior,
    }));
  }

  /** Makes the WAL written so far reach the repository (a segment switch, waited for): a restore to now then has it. */
  async archiveNow(): Promise<void> {
    this.writeConfig();
    await this.run(['check']);
  }

  /** pgBackRest's own verification of every backup and WAL file in the repository (checksums). */
  async verify(): Promise<void> {
    this.writeConfig();
    const out = await this.run(['--log-level-console=info', 'verify']);
    // verify exits 0 and reports problems in its summary on some versions: read it too.
    const bad = out.split('\n').filter((l) => /status: invalid|(checksum invalid|missing|size invalid|other): [1-9]/.test(l));
    if (bad.length > 0) throw new Error(`pgbackrest verify: ${bad.map((l) => l.replace(/^.*?(INFO|WARN|ERROR):\s*/, '').trim()).join('; ')}`);
  }

  /**
   * Restores into an empty `dataDir` (the latest state, or the moment `time`), ready to start as
   * a primary of its own: recovery promotes once the target is reached, and archiving is off so
   * the copy never writes into the repository of the cluster it came from.
   */
  async restore(dataDir: string, time?: Date, opts: { retry?: boolean } = {}): Promise<void> {
    this.writeConfig();
    const target = path.resolve(dataDir);
    fs.mkdirSync(target, { recursive: true, mode: 0o700 });
    if (fs.readdirSync(target).length > 0) throw new Error(`${target} is not empty: a restore goes into an empty directory`);
    fs.chmodSync(target, 0o700);
    ownByPostgres(target);
    const args = [`--pg1-path=${target}`, '--archive-mode=off', ...(opts.retry === false ? ['--job-retry=0'] : [])];
    // pgBackRest's time format: "YYYY-MM-DD HH:MM:SS.mmm+00".
    if (time) args.push('--type=time', `--target=${time.toISOString().replace('T', ' ').replace('Z', '+00')}`, '--target-action=promote');
    await this.run([...args, 'restore'], 3_600_000);
  }

  /** Applies the retention settings now (pgBackRest also does after each backup). */
  async expire(): Promise<void> {
    this.writeConfig();
    await this.run(['expire']);
  }

  private run(args: string[], timeoutMs = 600_000): Promise<string> {
    return runTool('pgbackrest', [`--config=${this.configFile}`, `--stanza=${this.config.stanza}`, ...args], { asPostgres: true, timeoutMs }).catch((err: Error) => {
      if (err instanceof ToolError && /CryptoError/.test(err.stderr)) {
        throw new Error(`pgbackrest cannot decrypt ${this.repoPath}: BACKUP_PASSPHRASE is not the one the repository was created with`);
      }
      throw err;
    });
  }
}

interface PgBackRestInfo {
  name: string;
  backup?: {
    label: string;
    type: DatabaseBackupType;
    prior: string | null;
    timestamp: { start: number; stop: number };
    info: { size: number; repository: { size: number; delta: number } };
  }[];
}
