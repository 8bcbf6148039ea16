import fs from 'node:fs';
import type { AppConfig } from '../../src/config/config-schema';
import { clusterDown, clusterUp } from '../../src/ha/local-cluster';
import { prepareDatabase } from '../../src/runtime';
import { freePortPair } from './ports';
import { deleteRedisPrefix, tempDir, testConfig } from './test-env';
import pg from 'pg';

/** One statement on one node, over a connection of its own. */
export async function query(url: string, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text, params);
  } finally {
    await c.end();
  }
}

export async function isInRecovery(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r;
  } finally {
    await c.end();
  }
}

/** Until the standby has replayed the creation of the database and answers in recovery. */
export async function waitForReplica(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await isInRecovery(url).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`standby ${url} never became readable`);
}

/** A fresh local primary + standby for one test, with a test config naming both nodes. */
export interface TestCluster {
  dir: string;
  port: number;
  nodes: { name: string; url: string; priority: number; data_dir: string }[];
  config: AppConfig;
  /** The primary's postmaster pid (to pause or kill the "host"). */
  postmasterPid(): number;
  close(): Promise<void>;
}

export async function startTestCluster(overrides: Record<string, Record<string, unknown>> = {}, nodeCount = 2): Promise<TestCluster> {
  const dir = tempDir('cluster');
  const port = await freePortPair(nodeCount);
  const cluster = await clusterUp(dir, port, nodeCount);
  const nodes = cluster.nodes.map((n, i) => ({ name: n.name, url: n.url.replace(/\/postgres$/, '/image_crawler'), priority: 100 - i, data_dir: n.dataDir }));
  const config = testConfig({ ...overrides, database: { url: nodes[0].url, nodes, ...overrides.database } });
  await prepareDatabase(config); // creates image_crawler on the primary; replication carries it over
  for (const standby of nodes.slice(1)) await waitForReplica(standby.url);
  return {
    dir,
    port,
    nodes,
    config,
    postmasterPid: () => Number(fs.readFileSync(`${cluster.nodes[0].dataDir}/postmaster.pid`, 'utf8').split('\n')[0]),
    async close() {
      await deleteRedisPrefix(config.redis.prefix);
      await clusterDown(dir, port).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
