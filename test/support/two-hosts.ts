import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http, { type Server } from 'node:http';
import https from 'node:https';
import axios from 'axios';
import pg from 'pg';
import { createApp } from '../../src/api/app';
import type { AppConfig } from '../../src/config/config-schema';
import { prepareDatabase } from '../../src/runtime';
import { ContentStore, hashFile } from '../../src/storage/content-store';
import { spawnCli, writeConfigFile } from './cli';
import { freePort } from './ports';
import { TEST_DATABASE_URL, TestRuntime, startTestRuntime, testConfig } from './test-env';

export const SYNC_TOKEN = 'two-hosts-sync-token-0123456789';
/** The hosts' API token (admin): never the sync token. */
export const API_TOKEN = 'two-hosts-api-token-0123456789';

/**
 * Two hosts on one machine: each has its own image store and API; they share PostgreSQL (a
 * database of their own, so other tests' rows do not count) and Redis. Host A runs in this
 * process (runtime, workers, API); host B is real child processes (`web` and `worker`) that
 * the test can kill and restart.
 */
export interface TwoHosts {
  a: TestRuntime;
  configA: AppConfig;
  configB: AppConfig;
  storeB: ContentStore;
  urlA: string;
  urlB: string;
  startB(): Promise<void>;
  /** SIGKILLs host B's processes. */
  killB(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `secure`: the README's "Securing two hosts" — both APIs over HTTPS with these certificates,
 * the peers verified against the CA, only 127.0.0.0/8 let in, and `api` (e.g. api.tokens) added.
 * `storageA`: host A's storage settings (e.g. an S3 bucket); host B keeps a local directory.
 */
export async function startTwoHosts(
  sync: Record<string, unknown> = {},
  secure?: { certs: { ca: string; cert: string; key: string }; api?: Record<string, unknown> },
  storageA: Record<string, unknown> = {},
): Promise<TwoHosts> {
  const dbName = `image_crawler_sync_${process.pid}_${Date.now().toString(36)}`;
  const dbUrl = TEST_DATABASE_URL.replace(/\/[^/]+$/, `/${dbName}`);
  const [portA, portB] = [await freePort(), await freePort()];
  const scheme = secure ? 'https' : 'http';
  const urlA = `${scheme}://127.0.0.1:${portA}`;
  const urlB = `${scheme}://127.0.0.1:${portB}`;
  const security = secure
    ? { api: { tls: { cert: secure.certs.cert, key: secure.certs.key }, allow_ips: ['127.0.0.0/8'], ...secure.api }, sync: { ca: secure.certs.ca, allow_ips: ['127.0.0.0/8'] } }
    : { api: {}, sync: {} };
  const hostConfig = (name: string, port: number, peer: string, peerUrl: string, storage: Record<string, unknown> = {}) =>
    testConfig({
      database: { url: dbUrl },
      storage,
      api: { port, token: API_TOKEN, ...security.api },
      sync: { host_name: name, peers: [{ name: peer, url: peerUrl }], token: SYNC_TOKEN, full_sync_interval_s: 3600, ...security.sync, ...sync },
    });
  const httpsAgent = secure ? new https.Agent({ ca: fs.readFileSync(secure.certs.ca) }) : undefined;
  const configA = hostConfig('hostA', portA, 'hostB', urlB, storageA);
  const configB = { ...hostConfig('hostB', portB, 'hostA', urlA), redis: configA.redis };
  await prepareDatabase(configA);
  const a = await startTestRuntime(configA);
  const app = createApp(a.rt, API_TOKEN);
  const server: Server = secure
    ? https.createServer({ cert: fs.readFileSync(secure.certs.cert), key: fs.readFileSync(secure.certs.key) }, app)
    : http.createServer(app);
  await new Promise<void>((resolve) => server.listen(portA, '127.0.0.1', resolve));
  const fileB = writeConfigFile(configB);
  let children: ChildProcess[] = [];

  const hosts: TwoHosts = {
    a,
    configA,
    configB,
    storeB: new ContentStore(configB.storage.data_dir),
    urlA,
    urlB,
    async startB() {
      children = [spawnCli(['web', '--config', fileB]), spawnCli(['worker', '--config', fileB])];
      for (let i = 0; ; i++) {
        const ok = await axios.get(`${urlB}/api/health`, { timeout: 1000, httpsAgent }).then((r) => r.status === 200, () => false);
        if (ok) return;
        if (i > 300) throw new Error('host B did not come up');
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async killB() {
      await Promise.all(children.filter((c) => c.exitCode === null).map((c) => (c.kill('SIGKILL'), once(c, 'exit'))));
      children = [];
    },
    async close() {
      await hosts.killB();
      await new Promise((r) => server.close(r));
      await a.close();
      const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).finally(() => admin.end());
    },
  };
  return hosts;
}

/** Waits until `store` holds every file in `files` (relative paths) with the right hash. */
export async function waitForFiles(store: ContentStore, files: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let missing = 0;
    for (const f of files) if (!(await store.has(f))) missing++;
    if (missing === 0) break;
    if (Date.now() > deadline) throw new Error(`${missing} of ${files.length} files still missing after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const f of files) {
    const sha = await hashFile(store.absolutePath(f));
    if (!f.includes(sha)) throw new Error(`${f} arrived with the wrong content (${sha})`);
  }
}

/**
 * Waits until no full sync runs or waits and host A has no copies queued: a test that damages
 * a store on purpose must not race a sync that would mend it before the check looks.
 */
export async function waitForSyncIdle(a: TestRuntime, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all([
      // Not 'delayed' here: the next scheduled full sync always waits there.
      a.rt.fileSync.queue.getJobCounts('waiting', 'active', 'prioritized'),
      ...[...a.rt.fileSync.pushQueues.values()].map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')),
    ]);
    const busy = counts.reduce((n, c) => n + Object.values(c).reduce((x, y) => x + y, 0), 0);
    if (busy === 0) return;
    if (Date.now() > deadline) throw new Error(`sync still busy after ${timeoutMs} ms (${busy} jobs)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
