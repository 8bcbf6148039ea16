import fs from 'node:fs';
import path from 'node:path';
import type { BackupConfig } from '../config/config-schema';
import { ToolError, runTool } from '../system/run-tool';
import { repositoryPassphrase } from './passphrase';

export interface FilesSnapshot {
  id: string;
  time: Date;
  /** Bytes the snapshot added to the repository (restic's summary), when known. */
  addedBytes: number | null;
  /** Files it holds in all. */
  files: number | null;
}

/**
 * restic keeps the image store: content-addressed like the store itself, so every snapshot is
 * incremental by nature and deduplicated; encrypted with BACKUP_PASSPHRASE. restic always
 * encrypts: with `backup.encryption: false` it gets a fixed, public password instead.
 */
export class Restic {
  readonly repoPath: string;

  constructor(private readonly config: BackupConfig) {
    this.repoPath = path.resolve(config.repository, 'files');
  }

  /** Creates the repository the first time (format 2: compressed). */
  async init(): Promise<void> {
    if (fs.existsSync(path.join(this.repoPath, 'config'))) return;
    fs.mkdirSync(path.dirname(this.repoPath), { recursive: true });
    await this.run(['init', '--repository-version', '2']);
  }

  /** A snapshot of the data directory (the image store under `images/`; thumbnails, which are rebuilt on demand, left out). */
  async backup(dataDir: string, tag: string): Promise<FilesSnapshot | null> {
    await this.init();
    if (!fs.existsSync(dataDir)) return null; // nothing stored yet
    // `backup .` from the data directory: paths in the snapshot are its own layout, so a restore
    // anywhere gives a data directory to run from.
    const out = await this.run(['backup', '--json', '--tag', tag, '--exclude', '.tmp-*', '--exclude', '/thumbs', '.'], { cwd: path.resolve(dataDir), timeoutMs: 6 * 3_600_000 }).catch((err: Error) => {
      if (/snapshot is empty/.test(err.message)) return null; // a store with no file yet
      throw err;
    });
    if (out === null) return null;
    const summary = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { message_type: string; snapshot_id?: string; data_added?: number; total_files_processed?: number })
      .find((m) => m.message_type === 'summary');
    if (!summary?.snapshot_id) throw new Error('restic backup gave no summary');
    return { id: summary.snapshot_id, time: new Date(), addedBytes: summary.data_added ?? null, files: summary.total_files_processed ?? null };
  }

  async snapshots(): Promise<FilesSnapshot[]> {
    if (!fs.existsSync(path.join(this.repoPath, 'config'))) return [];
    const list = JSON.parse(await this.run(['snapshots', '--json'])) as { short_id: string; id: string; time: string }[];
    return list.map((s) => ({ id: s.short_id ?? s.id.slice(0, 8), time: new Date(s.time), addedBytes: null, files: null }));
  }

  /** Keeps the last `retention.files_last` snapshots and frees what only the others used. */
  async forget(): Promise<void> {
    if (!fs.existsSync(path.join(this.repoPath, 'config'))) return;
    await this.run(['forget', '--keep-last', String(this.config.retention.files_last), '--prune'], { timeoutMs: 3_600_000 });
  }

  /** restic's own check of the repository; `readData` reads every pack (slow), else a tenth of them. */
  async check(readData = false): Promise<void> {
    await this.run(['check', readData ? '--read-data' : '--read-data-subset=10%'], { timeoutMs: 6 * 3_600_000 });
  }

  /** Restores a snapshot (default the latest) into `target`; `include` limits it to some files. */
  async restore(target: string, snapshot = 'latest', include: string[] = []): Promise<void> {
    fs.mkdirSync(target, { recursive: true });
    await this.run(['restore', snapshot, '--target', path.resolve(target), ...include.flatMap((f) => ['--include', f])], { timeoutMs: 6 * 3_600_000 });
  }

  private async run(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
    const c = this.config;
    // restic always encrypts: unencrypted (said explicitly) means a fixed, public password.
    const password = repositoryPassphrase(c) ?? 'image-crawler-unencrypted';
    return runTool('restic', ['--repo', this.repoPath, '--no-cache', '--quiet', ...(args[0] === 'backup' ? ['--compression', c.compression === 'zstd' ? 'auto' : 'off'] : []), ...args], {
      env: { RESTIC_PASSWORD: password },
      timeoutMs: opts.timeoutMs,
      cwd: opts.cwd,
    }).catch((err: unknown) => {
      if (err instanceof ToolError && /wrong password or no key found/.test(err.stderr)) {
        throw new Error(`restic cannot open ${this.repoPath}: wrong password or no key found (BACKUP_PASSPHRASE is not the one the repository was created with)`);
      }
      throw err instanceof ToolError ? new Error(`restic ${args[0]}: ${err.stderr.trim().split('\n').slice(-4).join('; ')}`) : err;
    });
  }
}
