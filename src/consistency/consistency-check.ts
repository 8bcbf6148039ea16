import { QueueContext, openQueue } from '../queues/queue-registry';
import { AlertSender } from '../alerts/alerts';
import { getLogger } from '../logger';
import { CheckJobData, CheckTrigger } from '../queues/job-types';
import type { Runtime } from '../runtime';
import { HostFileReport, PeerUnreachableError } from '../sync/peer-client';
import { DatabaseReport, checkDatabases } from './database-check';

const log = getLogger('consistency');

export interface CheckResult {
  id: number | null;
  trigger: CheckTrigger;
  host: string;
  startedAt: string;
  durationMs: number;
  ok: boolean;
  summary: string;
  database: DatabaseReport & { error?: string };
  /** Every host's store against the rows (this host first). */
  files: HostFileReport[];
}

/**
 * One consistency check (SPEC §4): every database node against the primary, and every host's
 * image store against the rows (missing and corrupt files repaired from peers when `repair`).
 * The result is stored in `consistency_checks`, logged, and alerted when anything disagrees.
 */
export async function runConsistencyCheck(rt: Runtime, trigger: CheckTrigger, repair = true): Promise<CheckResult> {
  const started = Date.now();
  const s = rt.config.sync;
  const database = await checkDatabases(rt.config, rt.router.primary, { bucketRows: s.check_bucket_rows }).catch(
    (err): CheckResult['database'] => ({ primary: rt.router.primary, nodes: [], ok: false, error: (err as Error).message }),
  );
  const files: HostFileReport[] = [await rt.fileSync.audit(repair)];
  for (const peer of rt.fileSync.peers) {
    files.push(
      await peer.verify(repair).catch((err) => ({
        host: peer.peer.name,
        reachable: !(err instanceof PeerUnreachableError),
        error: (err as Error).message,
        expected: 0,
        missing: [],
        corrupt: [],
        orphans: 0,
        repaired: [],
        unrepaired: [],
        ok: false,
      })),
    );
  }
  const result: CheckResult = {
    id: null,
    trigger,
    host: rt.fileSync.host,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    ok: database.ok && files.every((f) => f.ok),
    summary: '',
    database,
    files,
  };
  result.summary = summarize(result);
  // An old primary holding rows the primary lacks: a sync job copies them over (idempotent).
  for (const n of database.nodes.filter((x) => x.toRescue && x.toRescue.inserted + x.toRescue.updated + x.toRescue.deleted > 0)) {
    await rt.fileSync.queue
      .add('rescue', { kind: 'rescue', node: n.name, reason: `consistency check (${trigger}) found ${JSON.stringify(n.toRescue)}` })
      .catch((err) => log.error('could not queue a rescue', { node: n.name, error: (err as Error).message }));
  }
  const [row] = await rt
    .knex('consistency_checks')
    .insert({ trigger, host: result.host, started_at: new Date(started), duration_ms: result.durationMs, ok: result.ok, summary: result.summary, result: JSON.stringify(result) })
    .returning('id')
    .catch((err) => {
      log.error('could not store the check result', { error: (err as Error).message });
      return [{ id: null }];
    });
  result.id = row.id;
  if (result.ok) log.info('consistency check passed', { trigger, durationMs: result.durationMs });
  else {
    log.error('consistency check found disagreement', { trigger, summary: result.summary });
    const alerts = rt.config.alerts.consistency;
    if (alerts.enabled) {
      await new AlertSender(rt.redis, rt.config.redis.prefix, rt.config.alerts, rt.plugins)
        .send([{ kind: 'consistency', node: 'cluster', message: result.summary, cooldownS: alerts.cooldown_s }])
        .catch((err) => log.error('could not send the alert', { error: (err as Error).message }));
    }
  }
  return result;
}

/** One line per disagreement, or "all nodes and hosts agree". */
export function summarize(r: Pick<CheckResult, 'database' | 'files'>): string {
  const lines: string[] = [];
  if (r.database.error) lines.push(`database check failed: ${r.database.error}`);
  for (const n of r.database.nodes) {
    if (n.error) lines.push(`${n.name}: ${n.role}: ${n.error}`);
    if (n.toRescue) lines.push(`${n.name} (diverged) holds rows to rescue into the primary: ${n.toRescue.inserted} to insert, ${n.toRescue.updated} to update, ${n.toRescue.deleted} to delete`);
    for (const t of n.tables.filter((x) => !x.ok)) {
      const rows = t.differingBuckets.reduce((a, b) => ({ missing: a.missing + b.missing.length, extra: a.extra + b.extra.length, changed: a.changed + b.changed.length }), { missing: 0, extra: 0, changed: 0 });
      lines.push(
        `${n.name} (${n.role}) ${t.table}: ${t.countDifference >= 0 ? '+' : ''}${t.countDifference} rows, ${t.differingBuckets.length} differing bucket(s) [${t.differingBuckets.map((b) => b.bucket).join(', ')}]: ${rows.missing} missing, ${rows.extra} extra, ${rows.changed} changed`,
      );
    }
  }
  for (const f of r.files.filter((x) => !x.ok || x.repaired.length > 0)) {
    if (f.error) lines.push(`host ${f.host}: ${f.error}`);
    else lines.push(`host ${f.host}: ${f.missing.length} missing, ${f.corrupt.length} corrupt file(s); ${f.repaired.length} repaired, ${f.unrepaired.length} not repairable`);
  }
  return lines.length ? lines.join('; ') : 'all nodes and hosts agree';
}

/** The latest stored check, or null. */
export async function lastCheck(rt: Runtime): Promise<CheckResult | null> {
  const row = await rt.knex('consistency_checks').orderBy('id', 'desc').first('id', 'result');
  return row ? { ...(row.result as CheckResult), id: row.id } : null;
}

/** Queues a check for whichever process consumes `consistency-check` (a jobId makes it once). */
export async function enqueueCheck(ctx: QueueContext, data: CheckJobData, jobId?: string): Promise<void> {
  const queue = openQueue('check', ctx);
  try {
    await queue.add('check', data, { jobId });
  } finally {
    await queue.close();
  }
}
