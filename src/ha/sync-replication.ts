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
