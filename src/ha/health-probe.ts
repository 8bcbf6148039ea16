import pg from 'pg';
import type { NodeConfig } from '../config/config-schema';

/** One health probe of one node: connect (short timeout), SELECT 1, role, replication lag. */
export interface ProbeResult {
  name: string;
  ok: boolean;
  inRecovery: boolean | null;
  responseMs: number;
  error: string | null;
  /** On a primary: each standby's replay lag in bytes, by application_name. */
  standbyLagBytes: Record<string, number>;
  /** On a primary: whether each standby is a synchronous one now (sync_state sync or quorum). */
  standbySync: Record<string, boolean>;
  /** On a standby: seconds since the last replayed transaction (null when idle or unknown). */
  replayDelaySeconds: number | null;
  /**
   * On a node out of recovery: the timeline it writes (every promotion starts a new one), read
   * from its current WAL file, so it is right at once after a promotion. Of two writable nodes
   * the one on the older timeline is a former primary, whatever Redis says.
   */
  timeline: number | null;
  /** pg_control_system().system_identifier: the nodes of one cluster share it. */
  systemId: string | null;
}

export interface ProbeTimeouts {
  connectTimeoutMs: number;
  responseTimeoutMs: number;
}

const FAILED: Omit<ProbeResult, 'name' | 'responseMs' | 'error'> = {
  ok: false,
  inRecovery: null,
  standbyLagBytes: {},
  standbySync: {},
  replayDelaySeconds: null,
  timeline: null,
  systemId: null,
};

export async function probeNode(node: NodeConfig, t: ProbeTimeouts): Promise<ProbeResult> {
  const started = Date.now();
  const client = new pg.Client({ connectionString: node.url, connectionTimeoutMillis: t.connectTimeoutMs, query_timeout: t.responseTimeoutMs });
  client.on('error', () => undefined); // a dying server: the failed query reports it
  try {
    await client.connect();
    await client.query('SELECT 1');
    const { rows } = await client.query(
      `SELECT pg_is_in_recovery() AS in_recovery,
              CASE WHEN pg_is_in_recovery() THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS replay_delay,
              CASE WHEN NOT pg_is_in_recovery() THEN ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS timeline,
              (SELECT system_identifier::text FROM pg_control_system()) AS system_id`,
    );
    const inRecovery = rows[0].in_recovery as boolean;
    const standbyLagBytes: Record<string, number> = {};
    const standbySync: Record<string, boolean> = {};
    if (!inRecovery) {
      const rep = await client.query(
        'SELECT application_name, sync_state, greatest(0, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::bigint AS lag FROM pg_stat_replication',
      );
      for (const r of rep.rows) {
        standbyLagBytes[r.application_name] = Number(r.lag ?? 0);
        standbySync[r.application_name] = r.sync_state === 'sync' || r.sync_state === 'quorum';
      }
    }
    const responseMs = Date.now() - started;
    if (responseMs > t.responseTimeoutMs) {
      return { ...FAILED, name: node.name, inRecovery, responseMs, error: `answered in ${responseMs} ms (limit ${t.responseTimeoutMs})`, standbyLagBytes, standbySync };
    }
    const delay = rows[0].replay_delay;
    return {
      name: node.name,
      ok: true,
      inRecovery,
      responseMs,
      error: null,
      standbyLagBytes,
      standbySync,
      replayDelaySeconds: delay === null ? null : Number(delay),
      timeline: rows[0].timeline === null ? null : Number(rows[0].timeline),
      systemId: rows[0].system_id,
    };
  } catch (err) {
    return { ...FAILED, name: node.name, responseMs: Date.now() - started, error: (err as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}
