import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { AppConfig } from '../../src/config/config-schema';
import { tempDir } from './test-env';

const ROOT = path.resolve(__dirname, '../..');
const ENTRY = path.join(ROOT, 'src/cli/main.ts');

/** Writes a config as YAML, as a user would, and returns its path. */
export function writeConfigFile(config: AppConfig): string {
  const file = path.join(tempDir('config'), 'image-crawler.yaml');
  fs.writeFileSync(file, YAML.stringify(config));
  return file;
}

/** Starts `image-crawler <args>` from the sources (no build needed). */
const children = new Set<ChildProcess>();
// A test that times out must not leave its crawls and workers running.
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
