import pg from 'pg';
import type { HaConfig } from '../config/config-schema';

/**
 * Synchronous replication settings of the primary, derived from the mode and which standbys
 * are healthy right now. Pure: the HA manager applies the result with ALTER SYSTEM.
 */
export interface SyncSettings {
  synchronousStandbyNames: string;
  synchronousCommit: 'on' | 'remote_apply' | 'remote_write' | 'local';
}

export function desiredSyncSettings(mode: HaConfig['sync_mode'], healthyStandbys: string[]): SyncSettings {
  if (mode === 'async') return { synchronousStandbyNames: '', synchronousCommit: 'on' };
  // No healthy standby: commits would wait forever. Degrade to async until one is back.
  if (healthyStandbys.length === 0) return { synchronousStandbyNames: '', synchronousCommit: 'local' };
  const names = [...healthyStandbys].sort().map((n) => `"${n.replace(/"/g, '')}"`).join(', ');
  return {
    synchronousStandbyNames: `ANY 1 (${names})`,
    synchronousCommit: mode === 'sync' ? 'remote_apply' : 'remote_write',
  };
}

/** Applies the settings to the primary when they differ; returns whether anything changed. */
export async function applySyncSettings(url: string, wanted: SyncSettings): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query(
      "SELECT current_setting('synchronous_standby_names') AS names, current_setting('synchronous_commit') AS commit",
    );
    if (rows[0].names === wanted.synchronousStandbyNames && rows[0].commit === wanted.synchronousCommit) return false;
    await client.query(`ALTER SYSTEM SET synchronous_standby_names = ${client.escapeLiteral(wanted.synchronousStandbyNames)}`);
    await client.query(`ALTER SYSTEM SET synchronous_commit = ${client.escapeLiteral(wanted.synchronousCommit)}`);
    await client.query('SELECT pg_reload_conf()');
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface SyncStatus {
  mode: HaConfig['sync_mode'];
  primary: string;
  synchronousStandbyNames: string | null;
  synchronousCommit: string | null;
  /** The primary's view of each standby: state, sync state, replay lag. */
  standbys: { name: string; state: string; syncState: string; replayLagBytes: number }[];
  error?: string;
}

/** What the primary reports about replication right now. */
export async function syncStatus(config: { ha: HaConfig; database: { url: string; nodes: { name: string; url: string }[] } }, primary: string): Promise<SyncStatus> {
  const url = config.database.nodes.find((n) => n.name === primary)?.url ?? config.database.url;
  const base = { mode: config.ha.sync_mode, primary };
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const settings = await client.query(
      "SELECT current_setting('synchronous_standby_names') AS names, current_setting('synchronous_commit') AS commit",
    );
    const rep = await client.query(
      'SELECT application_name, state, sync_state, greatest(0, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::bigint AS lag FROM pg_stat_replication ORDER BY application_name',
    );
    return {
      ...base,
      synchronousStandbyNames: settings.rows[0].names,
      synchronousCommit: settings.rows[0].commit,
      standbys: rep.rows.map((r) => ({ name: r.application_name, state: r.state, syncState: r.sync_state, replayLagBytes: Number(r.lag ?? 0) })),
    };
  } catch (err) {
    return { ...base, synchronousStandbyNames: null, synchronousCommit: null, standbys: [], error: (err as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}
