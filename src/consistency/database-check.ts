import type { AppConfig } from '../config/config-schema';
import { BucketReport, TableReport, diffRows, differingBuckets, tableReport } from './compare';
import { NodeClient, bucketRowSums, bucketSums, connectNode, currentLsn, fingerprint, inRecovery, waitForReplay } from './node-fingerprint';
import { rescueRows } from './rescue';
import { TABLE_SPECS, TableSpec } from './table-specs';

export interface NodeReport {
  name: string;
  /** standby: replicating; diverged: writable but not the primary (an old primary, or replication broken). */
  role: 'standby' | 'diverged' | 'unreachable';
  /** A standby replayed up to the primary's position within the wait (null: not a standby). */
  caughtUp: boolean | null;
  tables: TableReport[];
  /** On a diverged node: what a rescue would copy into the primary (see rescue.ts). */
  toRescue?: { inserted: number; updated: number; deleted: number };
  ok: boolean;
  error?: string;
}

export interface DatabaseReport {
  primary: string;
  nodes: NodeReport[];
  ok: boolean;
}

export interface DatabaseCheckOptions {
  bucketRows: number;
  /** How long a standby may take to replay up to the primary before its buckets are read. */
  replayWaitMs?: number;
  /** Re-checks of differing buckets on a standby (writes in flight settle). */
  rounds?: number;
  /** Differing buckets narrowed down to rows, per table. */
  locateBuckets?: number;
}

/**
 * Compares every other node with the primary: counts, latest row, key range and bucket
 * checksums per table; differing buckets are re-checked after the standby caught up (a bucket
 * still being written on the primary is "unsettled", not divergent) and then narrowed down to
 * the rows that differ.
 */
export async function checkDatabases(config: AppConfig, primaryName: string, opts: DatabaseCheckOptions): Promise<DatabaseReport> {
  const nodes = config.database.nodes;
  if (nodes.length === 0) return { primary: 'default', nodes: [], ok: true };
  const primaryNode = nodes.find((n) => n.name === primaryName);
  if (!primaryNode) throw new Error(`primary ${primaryName} is not among database.nodes`);
  const primary = await connectNode(primaryNode.url);
  try {
    const reports: NodeReport[] = [];
    for (const node of nodes.filter((n) => n.name !== primaryName)) {
      let client: NodeClient;
      try {
        client = await connectNode(node.url);
      } catch (err) {
        reports.push({ name: node.name, role: 'unreachable', caughtUp: null, tables: [], ok: false, error: (err as Error).message });
        continue;
      }
      try {
        const report = await compareNode(primary, client, node.name, opts);
        if (report.role === 'diverged') {
          const plan = await rescueRows(config, node.name, primaryName, { dryRun: true });
          report.toRescue = { inserted: plan.inserted, updated: plan.updated, deleted: plan.deleted };
        }
        reports.push(report);
      } catch (err) {
        reports.push({ name: node.name, role: 'unreachable', caughtUp: null, tables: [], ok: false, error: (err as Error).message });
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    return { primary: primaryName, nodes: reports, ok: reports.every((r) => r.ok) };
  } finally {
    await primary.end().catch(() => undefined);
  }
}

async function compareNode(primary: NodeClient, node: NodeClient, name: string, opts: DatabaseCheckOptions): Promise<NodeReport> {
  const standby = await inRecovery(node);
  const wait = opts.replayWaitMs ?? 5000;
  const rounds = standby ? opts.rounds ?? 3 : 0;
  let caughtUp: boolean | null = null;
  const tables: TableReport[] = [];
  for (const spec of TABLE_SPECS) {
    const p = await fingerprint(primary, spec, opts.bucketRows);
    const lsn = await currentLsn(primary);
    if (standby) caughtUp = (await waitForReplay(node, lsn, wait)) && caughtUp !== false;
    const n = await fingerprint(node, spec, opts.bucketRows);

    let candidates = differingBuckets(p.buckets, n.buckets);
    const settled: string[] = [];
    let prev = p.buckets;
    const last = { p: p.buckets, n: n.buckets };
    for (let round = 0; round < rounds && candidates.length > 0; round++) {
      const p2 = await bucketSums(primary, spec, opts.bucketRows, candidates);
      const standbyCaughtUp = await waitForReplay(node, await currentLsn(primary), wait);
      caughtUp = caughtUp !== false && standbyCaughtUp;
      const n2 = await bucketSums(node, spec, opts.bucketRows, candidates);
      const next: string[] = [];
      for (const b of candidates) {
        if (p2.get(b) === n2.get(b)) continue; // the standby caught up with it
        if (p2.get(b) === prev.get(b)) settled.push(b);
        else next.push(b);
      }
      prev = p2;
      last.p = new Map([...last.p, ...p2]);
      last.n = new Map([...last.n, ...n2]);
      candidates = next;
    }
    if (rounds === 0) settled.push(...candidates.splice(0));
    const located = await locate(primary, node, spec, opts, settled, last);
    tables.push(tableReport(p, n, located, candidates));
  }
  return { name, role: standby ? 'standby' : 'diverged', caughtUp, tables, ok: tables.every((t) => t.ok) };
}

async function locate(
  primary: NodeClient,
  node: NodeClient,
  spec: TableSpec,
  opts: DatabaseCheckOptions,
  buckets: string[],
  sums: { p: Map<string, string>; n: Map<string, string> },
): Promise<BucketReport[]> {
  const reports: BucketReport[] = [];
  for (const [i, bucket] of buckets.entries()) {
    const base = { bucket, primary: sums.p.get(bucket) ?? null, node: sums.n.get(bucket) ?? null };
    if (i >= (opts.locateBuckets ?? 20)) {
      reports.push({ ...base, missing: [], extra: [], changed: [] });
      continue;
    }
    const [pr, nr] = await Promise.all([bucketRowSums(primary, spec, opts.bucketRows, bucket), bucketRowSums(node, spec, opts.bucketRows, bucket)]);
    reports.push({ ...base, ...diffRows(pr, nr) });
  }
  return reports;
}
