import pg from 'pg';
import { TableSpec, bucketSql } from './table-specs';

/**
 * What one database node holds, summarised for comparison: per table the row count, the key
 * range, the latest written row, and a checksum per key bucket (md5 over the md5 of every
 * row's full text, in key order), so two nodes are compared bucket by bucket and a single
 * differing row is narrowed to its bucket, then to its key.
 */
export interface TableFingerprint {
  table: string;
  count: number;
  minKey: string | null;
  maxKey: string | null;
  latest: { key: string; at: string } | null;
  /** bucket → "rows:checksum" */
  buckets: Map<string, string>;
}

export type NodeClient = pg.Client;

export async function connectNode(url: string, statementTimeoutMs = 120_000): Promise<NodeClient> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, statement_timeout: statementTimeoutMs });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

export async function fingerprint(c: NodeClient, spec: TableSpec, bucketRows: number): Promise<TableFingerprint> {
  const t = pg.escapeIdentifier(spec.table);
  const key = pg.escapeIdentifier(spec.key);
  const summary = await c.query(`SELECT count(*)::bigint AS n, min(${spec.keyOrder})::text AS lo, max(${spec.keyOrder})::text AS hi FROM ${t}`);
  const latest = await c.query(`SELECT ${key}::text AS k, ${pg.escapeIdentifier(spec.latest)} AS at FROM ${t} ORDER BY ${pg.escapeIdentifier(spec.latest)} DESC, ${key} DESC LIMIT 1`);
  const buckets = await c.query(
    `SELECT (${bucketSql(spec, bucketRows)})::text AS b, count(*) AS n, md5(string_agg(md5(r::text), '' ORDER BY r.${key})) AS sum
       FROM ${t} r GROUP BY 1`,
  );
  return {
    table: spec.table,
    count: Number(summary.rows[0].n),
    minKey: summary.rows[0].lo,
    maxKey: summary.rows[0].hi,
    latest: latest.rows[0] ? { key: latest.rows[0].k, at: new Date(latest.rows[0].at).toISOString() } : null,
    buckets: new Map(buckets.rows.map((r) => [r.b as string, `${r.n}:${r.sum}`])),
  };
}

/** Checksums of the given buckets only (a re-check of the ones that differed). */
export async function bucketSums(c: NodeClient, spec: TableSpec, bucketRows: number, buckets: string[]): Promise<Map<string, string>> {
  const key = pg.escapeIdentifier(spec.key);
  const expr = bucketSql(spec, bucketRows);
  const { rows } = await c.query(
    `SELECT (${expr})::text AS b, count(*) AS n, md5(string_agg(md5(r::text), '' ORDER BY r.${key})) AS sum
       FROM ${pg.escapeIdentifier(spec.table)} r WHERE (${expr})::text = ANY($1) GROUP BY 1`,
    [buckets],
  );
  return new Map(rows.map((r) => [r.b as string, `${r.n}:${r.sum}`]));
}

/** key → md5 of the row, for every row of one bucket. */
export async function bucketRowSums(c: NodeClient, spec: TableSpec, bucketRows: number, bucket: string): Promise<Map<string, string>> {
  const key = pg.escapeIdentifier(spec.key);
  const { rows } = await c.query(
    `SELECT r.${key}::text AS k, md5(r::text) AS sum FROM ${pg.escapeIdentifier(spec.table)} r WHERE (${bucketSql(spec, bucketRows)})::text = $1`,
    [bucket],
  );
  return new Map(rows.map((r) => [r.k as string, r.sum as string]));
}

export async function currentLsn(c: NodeClient): Promise<string> {
  return (await c.query('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn;
}

export async function inRecovery(c: NodeClient): Promise<boolean> {
  return (await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r;
}

/** Waits until a standby has replayed up to `lsn`; false when it did not within the time. */
export async function waitForReplay(c: NodeClient, lsn: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await c.query('SELECT coalesce(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) >= 0, false) AS ok', [lsn]);
    if (rows[0].ok) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
