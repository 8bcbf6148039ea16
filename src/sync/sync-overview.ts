import { maskPassword } from '../ha/ha-status';
import { SyncStatus, syncStatus } from '../ha/sync-replication';
import { CheckResult, lastCheck } from '../consistency/consistency-check';
import type { Runtime } from '../runtime';
import type { FullSyncResult } from './file-sync';

/** Everything an operator asks "are my hosts and nodes in agreement?" about, in one answer. */
export interface SyncOverview {
  host: string;
  autoSync: boolean;
  mode: 'realtime' | 'batched';
  paused: boolean;
  /** Copies queued from this host to each peer. */
  peers: { name: string; url: string; waiting: number; active: number; delayed: number; failed: number; paused: number }[];
  queues: Record<'sync' | 'push' | 'check', Record<string, number>>;
  lastFullSync: FullSyncResult | null;
  lastCheck: CheckResult | null;
  /** The latest rescues of rows from an old primary (newest first). */
  rescues: { node: string; primary: string; startedAt: string; inserted: number; updated: number; deleted: number }[];
  /** PostgreSQL streaming replication as the primary reports it. */
  replication: SyncStatus;
}

export async function syncOverview(rt: Runtime): Promise<SyncOverview> {
  const fs = rt.fileSync;
  const counts = ['waiting', 'active', 'delayed', 'failed', 'completed', 'paused'] as const;
  const [backlog, syncCounts, checkCounts, paused, lastFullSync, last, rescues, replication] = await Promise.all([
    fs.backlog(),
    fs.queue.getJobCounts(...counts),
    fs.checkQueue.getJobCounts(...counts),
    fs.queue.isPaused(),
    fs.lastFullSync(),
    lastCheck(rt).catch(() => null),
    rt.knex('sync_rescues').orderBy('id', 'desc').limit(5).catch(() => []),
    syncStatus(rt.config, rt.router.primary),
  ]);
  const push = backlog.reduce<Record<string, number>>((sum, b) => {
    for (const k of ['waiting', 'active', 'delayed', 'failed', 'paused'] as const) sum[k] = (sum[k] ?? 0) + b[k];
    return sum;
  }, {});
  return {
    host: fs.host,
    autoSync: rt.config.sync.auto_sync_enabled,
    mode: rt.config.sync.mode,
    paused,
    peers: backlog.map(({ peer, ...counts }) => ({ name: peer, url: maskPassword(rt.config.sync.peers.find((p) => p.name === peer)?.url ?? ''), ...counts })),
    queues: { sync: syncCounts, push, check: checkCounts },
    lastFullSync,
    lastCheck: last,
    rescues: rescues.map((r: Record<string, unknown>) => ({
      node: r.node as string,
      primary: r.primary_node as string,
      startedAt: new Date(r.started_at as string).toISOString(),
      inserted: r.inserted as number,
      updated: r.updated as number,
      deleted: r.deleted as number,
    })),
    replication,
  };
}
