import { execFile } from 'node:child_process';
import fs from 'node:fs';

export interface ToolOptions {
  /** Run as the `postgres` user when we are root (PostgreSQL tools refuse root or need its files). */
  asPostgres?: boolean;
  /** Added to the environment (secrets go here, never on the command line). */
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Working directory. Default /. */
  cwd?: string;
}

/** The error of a tool that failed: its command and the end of what it said. */
export class ToolError extends Error {
  constructor(readonly tool: string, readonly exitCode: number | null, readonly stderr: string) {
    super(`${tool} failed${exitCode !== null ? ` (exit ${exitCode})` : ''}: ${stderr.trim().split('\n').slice(-6).join('\n') || 'no output'}`);
    this.name = 'ToolError';
  }
}

/** Runs a program without a shell and resolves with its standard output. */
export function runTool(file: string, args: string[], opts: ToolOptions = {}): Promise<string> {
  const ids = opts.asPostgres ? postgresIds() : null;
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { ...(ids ?? {}), cwd: opts.cwd ?? '/', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...opts.env } },
      (err, stdout, stderr) => {
        if (err) reject(new ToolError(`${file.split('/').pop()} ${args.filter((a) => !a.startsWith('--')).join(' ')}`.trim(), typeof err.code === 'number' ? err.code : null, stderr || err.message));
        else resolve(stdout);
      },
    );
  });
}

/** The postgres user's ids when we are root (else null: we run as ourselves). */
export function postgresIds(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root but there is no postgres user to run the PostgreSQL tools as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Hands a path to the postgres user when running as root (the server refuses files it does not own). */
export function ownByPostgres(target: string): void {
  const ids = postgresIds();
  if (ids) fs.chownSync(target, ids.uid, ids.gid);
}
