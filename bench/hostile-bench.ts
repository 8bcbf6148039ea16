/**
 * npm run bench:hostile
 *
 * Crawls the hostile site (every trap of issue 11 among 28 ordinary images; src/demo/hostile-site.ts)
 * with `image-crawler crawl` of the compiled build and the default configuration (127.0.0.0/8
 * opened), and prints: wall time from start to exit, the crawl process's peak RSS, ordinary
 * images stored, trap images failed with the expected reason, and the most requests any one URL
 * received. Uses its own database and Redis prefix and removes them and its files.
 */
import { fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import YAML from 'yaml';
import { deleteRedisPrefix } from '../test/support/test-env';
import { peakRssBytes } from './proc-cpu';

const ROOT = path.resolve(__dirname, '..');

async function main() {
  const server = fork(path.join(__dirname, 'hostile-site-server.ts'), [], { execArgv: ['--import', 'tsx'] });
  const site = await new Promise<{ startUrl: string; ordinary: string[]; traps: [string, string][] }>((resolve) => server.once('message', (m) => resolve(m as never)));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-bench-'));
  const database = `image_crawler_hostile_bench_${process.pid}`;
  const prefix = `hostile-bench-${process.pid}`;
  const configFile = path.join(dir, 'config.yaml');
  fs.writeFileSync(
    configFile,
    YAML.stringify({
      database: { url: `postgres://postgres@127.0.0.1:5432/${database}` },
      redis: { prefix },
      storage: { data_dir: path.join(dir, 'data') },
      log_level: 'error',
    }),
  );
  try {
    const started = Date.now();
    const child = spawn(path.join(ROOT, 'bin/image-crawler.js'), ['crawl', site.startUrl, '--allow-net', '127.0.0.0/8', '--json', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, peakRssBytes(child.pid as number))), 200);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearInterval(sampler);
    const seconds = (Date.now() - started) / 1000;
    const summary = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { sessionId: string; status: string };

    server.send({ cmd: 'requests' });
    const { requests } = await new Promise<{ requests: [string, number][] }>((resolve) => server.once('message', (m) => resolve(m as never)));
    const db = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:5432/${database}` });
    await db.connect();
    const { rows } = await db.query('SELECT url, status, error FROM images WHERE session_id = $1', [summary.sessionId]);
    await db.end();
    const byUrl = new Map(rows.map((r: { url: string; status: string; error: string | null }) => [r.url, r]));
    const stored = site.ordinary.filter((u) => byUrl.get(u)?.status === 'stored').length;
    const trapsOk = site.traps.filter(([u, re]) => byUrl.get(u)?.status === 'failed' && new RegExp(re).test(byUrl.get(u)?.error ?? '')).length;
    const [worstPath, worst] = requests.reduce((a, b) => (b[1] > a[1] ? b : a), ['', 0]);
    console.log(
      [
        `hostile site: exit ${code}, session ${summary.status}`,
        `  wall time, start to exit   ${seconds.toFixed(1)} s`,
        `  crawl process peak RSS     ${(peak / 1e6).toFixed(0)} MB`,
        `  ordinary images stored     ${stored} of ${site.ordinary.length}`,
        `  trap images failed with the expected reason  ${trapsOk} of ${site.traps.length}`,
        `  requests to the site       ${requests.reduce((n, [, c]) => n + c, 0)} (most for one URL: ${worst}, ${worstPath})`,
      ].join('\n'),
    );
    for (const [u] of site.traps.filter(([u, re]) => !(byUrl.get(u)?.status === 'failed' && new RegExp(re).test(byUrl.get(u)?.error ?? '')))) {
      console.log(`  trap not as expected: ${u}: ${byUrl.get(u)?.status} ${byUrl.get(u)?.error}`);
    }
  } finally {
    server.send({ cmd: 'close' });
    await deleteRedisPrefix(prefix);
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
