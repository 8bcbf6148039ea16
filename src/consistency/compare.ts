import type { TableFingerprint } from './node-fingerprint';

/** Pure comparison of two nodes' fingerprints (see node-fingerprint.ts). */

/** Buckets whose checksum (or presence) differs between the two maps, in key order. */
export function differingBuckets(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k)).sort(compareKeys);
}

/** Rows of one bucket: on the primary only (missing on the node), on the node only (extra), or different. */
export function diffRows(primary: Map<string, string>, node: Map<string, string>, cap = 100): { missing: string[]; extra: string[]; changed: string[] } {
  const missing: string[] = [];
  const changed: string[] = [];
  for (const [k, sum] of primary) {
    const other = node.get(k);
    if (other === undefined) missing.push(k);
    else if (other !== sum) changed.push(k);
  }
  const extra = [...node.keys()].filter((k) => !primary.has(k));
  const top = (xs: string[]) => xs.sort(compareKeys).slice(0, cap);
  return { missing: top(missing), extra: top(extra), changed: top(changed) };
}

export interface BucketReport {
  bucket: string;
  /** "rows:checksum" on each side; null when the bucket has no rows there. */
  primary: string | null;
  node: string | null;
  missing: string[];
  extra: string[];
  changed: string[];
}

export interface TableReport {
  table: string;
  primary: { count: number; minKey: string | null; maxKey: string | null; latest: TableFingerprint['latest'] };
  node: { count: number; minKey: string | null; maxKey: string | null; latest: TableFingerprint['latest'] };
  /** node count − primary count */
  countDifference: number;
  latestMatches: boolean;
  keyRangeMatches: boolean;
  bucketsCompared: number;
  differingBuckets: BucketReport[];
  /** Buckets still changing on the primary while checked (writes in progress): not a divergence. */
  unsettledBuckets: string[];
  ok: boolean;
}

export function tableReport(p: TableFingerprint, n: TableFingerprint, differing: BucketReport[], unsettled: string[]): TableReport {
  const side = (f: TableFingerprint) => ({ count: f.count, minKey: f.minKey, maxKey: f.maxKey, latest: f.latest });
  const settledEqual = differing.length === 0;
  const countDifference = n.count - p.count;
  const latestMatches = p.latest?.key === n.latest?.key && p.latest?.at === n.latest?.at;
  const keyRangeMatches = p.minKey === n.minKey && p.maxKey === n.maxKey;
  return {
    table: p.table,
    primary: side(p),
    node: side(n),
    countDifference,
    latestMatches,
    keyRangeMatches,
    bucketsCompared: new Set([...p.buckets.keys(), ...n.buckets.keys()]).size,
    differingBuckets: differing,
    unsettledBuckets: unsettled,
    // Count, latest row and range may differ only through buckets still being written.
    ok: settledEqual && (unsettled.length > 0 || (countDifference === 0 && latestMatches && keyRangeMatches)),
  };
}

/** Numeric keys in numeric order, others as text. */
function compareKeys(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  return Number.isFinite(x) && Number.isFinite(y) ? x - y : a < b ? -1 : a > b ? 1 : 0;
}
