import pg from 'pg';
import type { AppConfig } from '../config/config-schema';
import { getLogger } from '../logger';
import { differingBuckets } from './compare';
import { NodeClient, connectNode, fingerprint } from './node-fingerprint';
import { Row, decide, deletedOnOld } from './rescue-rules';
import { TABLE_SPECS, TableSpec, bucketSql } from './table-specs';

const log = getLogger('rescue');

export interface RescueTableReport {
  table: string;
  inserted: number;
  updated: number;
  deleted: number;
  /** Natural keys of the first rows changed, for the operator. */
  samples: string[];
}

export interface RescueReport {
  node: string;
  primary: string;
  /** When the node stopped being primary (the failover's start); null when no failover is recorded. */
  divergedAt: string | null;
  startedAt: string;
  durationMs: number;
  dryRun: boolean;
  inserted: number;
  updated: number;
  deleted: number;
  tables: RescueTableReport[];
}

/**
 * The "bidirectional sync" after an asynchronous failover: rows the old primary committed that
 * never reached the standby are copied into the current primary (INSERT / UPDATE / DELETE by
 * the rule in rescue-rules.ts), matched by natural key because the two nodes' id sequences went
 * separate ways. Only buckets whose checksums differ are read. Idempotent: a second run finds
 * nothing to do. Runs in one transaction on the primary and is recorded in `sync_rescues`.
 */
export async function rescueRows(config: AppConfig, fromNode: string, toNode: string, opts: { dryRun?: boolean } = {}): Promise<RescueReport> {
  const started = Date.now();
  const from = config.database.nodes.find((n) => n.name === fromNode);
  const to = config.database.nodes.find((n) => n.name === toNode);
  if (!from || !to) throw new Error(`unknown node ${!from ? fromNode : toNode}`);
  if (from.name === to.name) throw new Error(`${fromNode} is the primary: nothing to rescue from`);
  const old = await connectNode(from.url);
  const primary = await connectNode(to.url);
  try {
    const divergedAt = await divergence(primary, toNode);
    const tables: RescueTableReport[] = [];
    await primary.query('BEGIN');
    try {
      // One rescue at a time, whichever process runs it: the second one then finds nothing to do.
      await primary.query(`SELECT pg_advisory_xact_lock(hashtext('image-crawler:rescue'))`);
      for (const spec of TABLE_SPECS) tables.push(await rescueTable(old, primary, spec, config.sync.check_bucket_rows, divergedAt, opts.dryRun ?? false));
      if (opts.dryRun) await primary.query('ROLLBACK');
      else {
        const total = (k: 'inserted' | 'updated' | 'deleted') => tables.reduce((a, t) => a + t[k], 0);
        await primary.query(
          `INSERT INTO sync_rescues (node, primary_node, diverged_at, started_at, duration_ms, inserted, updated, deleted, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [fromNode, toNode, divergedAt, new Date(started), Date.now() - started, total('inserted'), total('updated'), total('deleted'), JSON.stringify(tables)],
        );
        await primary.query('COMMIT');
      }
    } catch (err) {
      await primary.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    const report: RescueReport = {
      node: fromNode,
      primary: toNode,
      divergedAt: divergedAt?.toISOString() ?? null,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      dryRun: opts.dryRun ?? false,
      inserted: tables.reduce((a, t) => a + t.inserted, 0),
      updated: tables.reduce((a, t) => a + t.updated, 0),
      deleted: tables.reduce((a, t) => a + t.deleted, 0),
      tables,
    };
    if (!report.dryRun && report.inserted + report.updated + report.deleted > 0) log.warn('rows rescued from an old primary', { ...report, tables: undefined });
    return report;
  } finally {
    await Promise.all([old.end().catch(() => undefined), primary.end().catch(() => undefined)]);
  }
}

/**
 * When `primary` last became primary through a successful failover or switchover, by its own
 * clock (the one its rows' created_at come from; events recorded before that was kept fall back
 * to the deciding process's clock).
 */
async function divergence(primary: NodeClient, name: string): Promise<Date | null> {
  const { rows } = await primary.query(
    `SELECT coalesce(promoted_at, started_at) AS at FROM failover_events WHERE to_node = $1 AND outcome = 'success' ORDER BY term DESC, started_at DESC LIMIT 1`,
    [name],
  );
  return rows[0] ? new Date(rows[0].at) : null;
}

async function rescueTable(old: NodeClient, primary: NodeClient, spec: TableSpec, bucketRows: number, divergedAt: Date | null, dryRun: boolean): Promise<RescueTableReport> {
  const report: RescueTableReport = { table: spec.table, inserted: 0, updated: 0, deleted: 0, samples: [] };
  const [fo, fp] = await Promise.all([fingerprint(old, spec, bucketRows), fingerprint(primary, spec, bucketRows)]);
  const buckets = differingBuckets(fo.buckets, fp.buckets);
  if (buckets.length === 0) return report;
  const columns = await columnsOf(primary, spec.table);
  const sample = (row: Row) => report.samples.length < 20 && report.samples.push(spec.naturalKey.map((k) => String(row[k])).join(' '));

  const oldRows = await rowsIn(old, spec, bucketRows, buckets);
  const current = await byNaturalKey(primary, spec, oldRows);
  for (const row of oldRows) {
    const mine = current.get(naturalKey(spec, row));
    const action = decide(spec.table, row, mine);
    if (action === 'keep') continue;
    if (!dryRun) {
      if (action === 'insert') await insertRow(primary, spec, columns, row);
      else await updateRow(primary, spec, columns, row, mine?.[spec.key]);
    }
    report[action === 'insert' ? 'inserted' : 'updated']++;
    sample(row);
  }

  if (spec.deletable && divergedAt) {
    const newRows = await rowsIn(primary, spec, bucketRows, buckets);
    const onOld = await byNaturalKey(old, spec, newRows);
    for (const row of newRows) {
      if (onOld.has(naturalKey(spec, row)) || !deletedOnOld(row, divergedAt, spec.deletable)) continue;
      if (!dryRun) await primary.query(`DELETE FROM ${pg.escapeIdentifier(spec.table)} WHERE ${pg.escapeIdentifier(spec.key)} = $1`, [row[spec.key]]);
      report.deleted++;
      sample(row);
    }
  }
  return report;
}

async function columnsOf(c: NodeClient, table: string): Promise<string[]> {
  const { rows } = await c.query(`SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, [table]);
  return rows.map((r) => r.column_name as string);
}

async function rowsIn(c: NodeClient, spec: TableSpec, bucketRows: number, buckets: string[]): Promise<Row[]> {
  const { rows } = await c.query(`SELECT to_jsonb(r) AS row FROM ${pg.escapeIdentifier(spec.table)} r WHERE (${bucketSql(spec, bucketRows)})::text = ANY($1)`, [buckets]);
  return rows.map((r) => r.row as Row);
}

function naturalKey(spec: TableSpec, row: Row): string {
  return JSON.stringify(spec.naturalKey.map((k) => String(row[k])));
}

/** The rows of `c` with the natural keys of `rows`, by natural key. */
async function byNaturalKey(c: NodeClient, spec: TableSpec, rows: Row[]): Promise<Map<string, Row>> {
  if (rows.length === 0) return new Map();
  const cols = spec.naturalKey.map((k) => `r.${pg.escapeIdentifier(k)}::text`).join(', ');
  const arrays = spec.naturalKey.map((_, i) => `$${i + 1}::text[]`).join(', ');
  const params = spec.naturalKey.map((k) => rows.map((r) => String(r[k])));
  const { rows: found } = await c.query(`SELECT to_jsonb(r) AS row FROM ${pg.escapeIdentifier(spec.table)} r WHERE (${cols}) IN (SELECT * FROM unnest(${arrays}))`, params);
  return new Map(found.map((f) => [naturalKey(spec, f.row as Row), f.row as Row]));
}

/** Inserts the old primary's row; a serial id is left to the primary's sequence (the old one may be taken). */
async function insertRow(c: NodeClient, spec: TableSpec, columns: string[], row: Row): Promise<void> {
  const keepId = spec.table === 'crawl_sessions';
  const cols = columns.filter((col) => keepId || col !== spec.key).map((col) => pg.escapeIdentifier(col));
  const t = pg.escapeIdentifier(spec.table);
  await c.query(`INSERT INTO ${t} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM jsonb_populate_record(NULL::${t}, $1) ON CONFLICT DO NOTHING`, [row]);
}

async function updateRow(c: NodeClient, spec: TableSpec, columns: string[], row: Row, id: unknown): Promise<void> {
  const cols = columns.filter((col) => col !== spec.key && col !== 'created_at').map((col) => pg.escapeIdentifier(col));
  const t = pg.escapeIdentifier(spec.table);
  await c.query(`UPDATE ${t} SET (${cols.join(', ')}) = (SELECT ${cols.join(', ')} FROM jsonb_populate_record(NULL::${t}, $1)) WHERE ${pg.escapeIdentifier(spec.key)} = $2`, [row, id]);
}
