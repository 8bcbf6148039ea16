import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { AppConfig } from '../../src/config/config-schema';
import { validateConfig } from '../../src/config/load-config';
import type { ImageRow } from '../../src/db/image-repository';
import type { RunningSite } from '../../src/demo/synthetic-site';
import { Runtime, prepareDatabase } from '../../src/runtime';
import type { SessionView } from '../../src/sessions/session-service';
import { WorkerHandle, startWorkers } from '../../src/workers/start-workers';

/** Tests use their own database and Redis key prefix and never touch a user's data. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/image_crawler_test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let counter = 0;

export function uniquePrefix(): string {
  return `ic-test-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

const tempDirs: string[] = [];

/** A fresh directory under the system temp dir, removed when the test run ends. */
export function tempDir(name = 'data'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `image-crawler-${name}-`));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** A complete test configuration: 127.0.0.0/8 allowed, short timeouts, quick retries. */
export function testConfig(overrides: Record<string, Record<string, unknown> | unknown[]> = {}): AppConfig {
  const base: Record<string, unknown> = {
    database: { url: TEST_DATABASE_URL, pool_size: 10 },
    redis: { url: TEST_REDIS_URL, prefix: uniquePrefix() },
    storage: { data_dir: tempDir() },
    crawler: { allow_nets: ['127.0.0.0/8'], request_timeout_ms: 1000, connect_timeout_ms: 1000, max_depth: 20 },
    worker: { attempts: 2, backoff_ms: 50, lock_duration_ms: 5000, stalled_interval_ms: 2000, sweep_interval_ms: 500, orphan_after_ms: 3000 },
    log_level: 'error',
  };
  for (const [k, v] of Object.entries(overrides)) base[k] = Array.isArray(v) ? v : { ...(base[k] as object | undefined), ...v };
  return validateConfig(base);
}

export async function prepareTestDatabase(): Promise<void> {
  await prepareDatabase(testConfig());
}

/** A runtime with workers in this process, plus cleanup of its Redis keys and files. */
export async function startTestRuntime(config = testConfig(), withWorkers = true): Promise<TestRuntime> {
  const rt = await Runtime.create(config, { migrate: false });
  const workers = withWorkers ? await startWorkers(rt) : null;
  return new TestRuntime(rt, workers);
}

export class TestRuntime {
  constructor(readonly rt: Runtime, readonly workers: WorkerHandle | null) {}

  async waitForSession(id: string, timeoutMs = 60_000): Promise<SessionView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const view = await this.rt.sessions.view(id);
      if (view && view.status !== 'running' && view.status !== 'stopping') return view;
      if (Date.now() > deadline) throw new Error(`session ${id} not finished after ${timeoutMs} ms: ${JSON.stringify(view)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    await this.workers?.close();
    await deleteRedisPrefix(this.rt.config.redis.prefix);
    await this.rt.close();
    fs.rmSync(this.rt.config.storage.data_dir, { recursive: true, force: true });
  }
}

export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Every image URL the site placed has exactly one row, stored with the right content. */
export async function expectEveryImageStoredOnce(t: TestRuntime, site: RunningSite, sessionId: string): Promise<void> {
  const rows = await t.rt.knex<ImageRow>('images').where({ session_id: sessionId });
  expect(rows.length).to.equal(site.expected.size);
  for (const row of rows) {
    const e = site.expected.get(row.url);
    expect(e?.ok && row.status === 'stored' && row.sha256 === e.sha256, row.url).to.equal(true);
  }
}
