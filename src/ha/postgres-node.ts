import pg from 'pg';
import type { NodeConfig } from '../config/config-schema';
import { ProbeResult, ProbeTimeouts, probeNode } from './health-probe';
import { SyncSettings, applySyncSettings } from './sync-replication';
import { StandbyPosition, TimelineSwitch, parseTimelineHistory } from './timeline';

/** One change of primary, as recorded in the new primary's `failover_events`. */
export interface FailoverEvent {
  term: number;
  from: string | null;
  to: string;
  reason: string;
  automatic: boolean;
  startedAt: Date;
  durationMs: number;
  outcome: 'success' | 'failed';
  error: string | null;
  /** The new primary's own clock just before it was promoted (null when it could not be read). */
  promotedAt?: Date | null;
}

/** A standby that did not replay far enough in time (a switchover gives up; answered 409). */
export class ReplayTimeoutError extends Error {}

/**
 * Everything the HA manager does to one PostgreSQL node, in SQL, behind one adapter — probe,
 * fence, unfence, promote, wait for replay, synchronous-replication settings, the failover
 * record — so the manager reads as decisions and their order (Patroni's `ha.py` over its
 * `postgresql` module). Each call opens its own short connection: a pool would hold sockets to
 * a node that may be dying.
 */
export class PostgresNode {
  constructor(readonly config: NodeConfig, private readonly timeouts: ProbeTimeouts) {}

  get name(): string {
    return this.config.name;
  }

  get url(): string {
    return this.config.url;
  }

  /** Connect, SELECT 1, role, timeline, system identifier, replication as this node sees it. */
  probe(): Promise<ProbeResult> {
    return probeNode(this.config, this.timeouts);
  }

  /** Answering and in recovery (a fresh look: the recorded view may predate a promotion). */
  async isStandby(): Promise<boolean> {
    const probe = await this.probe();
    return probe.ok && probe.inRecovery === true;
  }

  /**
   * Makes the node refuse writes: read-only by default from now on, and its client sessions
   * ended, so transactions of processes that still route to it fail and are retried against the
   * primary instead of being acknowledged here. `changed`: false when it was already fenced;
   * `lsn`: its WAL position once fenced (null on a standby).
   */
  fence(): Promise<{ changed: boolean; lsn: string | null }> {
    return this.session(async (c) => {
      const { rows } = await c.query("SELECT current_setting('default_transaction_read_only') = 'on' AS fenced, pg_is_in_recovery() AS standby");
      const changed = !rows[0].fenced;
      if (changed) {
        await c.query('ALTER SYSTEM SET default_transaction_read_only = on');
        await c.query('SELECT pg_reload_conf()');
      }
      await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
      const lsn = rows[0].standby ? null : ((await c.query('SELECT pg_current_wal_lsn() AS lsn')).rows[0].lsn as string);
      return { changed, lsn };
    });
  }

  /** Takes writes again (a switchover that gave up before the term moved). */
  unfence(): Promise<void> {
    return this.session(async (c) => {
      await c.query('ALTER SYSTEM RESET default_transaction_read_only');
      await c.query('SELECT pg_reload_conf()');
    });
  }

  /**
   * Promotes the node (a no-op on a node already out of recovery) and makes it writable.
   * Returns its own clock just before the promotion: every row written on it as primary is
   * later than that.
   */
  promote(): Promise<Date> {
    return this.session(async (c) => {
      const { rows } = await c.query('SELECT pg_is_in_recovery() AS standby, clock_timestamp() AS now');
      if (rows[0].standby) {
        const res = await c.query('SELECT pg_promote(true, 60) AS promoted');
        if (!res.rows[0].promoted) throw new Error('pg_promote did not finish within 60 s');
      }
      // A node once demoted by a switchover carries read-only in its settings: not as primary.
      await c.query('ALTER SYSTEM RESET default_transaction_read_only');
      await c.query('SELECT pg_reload_conf()');
      return rows[0].now as Date;
    }, 5000);
  }

  /**
   * Makes a standby stream from `primaryUrl` (after a failover elsewhere): its primary_conninfo
   * keeps its user, password, TLS and application_name, with the new primary's host and port,
   * applied by a reload (PostgreSQL ≥ 13). With recovery_target_timeline = latest (the default)
   * it follows the new primary's timeline — unless it replayed past the fork, which a rewind
   * (`ha rejoin`) mends. `changed`: false when it already pointed there; `slot`: the
   * replication slot it streams through, which the new primary must have (ensureSlot).
   */
  follow(primaryUrl: string): Promise<{ changed: boolean; slot: string | null }> {
    return this.session(async (c) => {
      const { rows } = await c.query("SELECT current_setting('primary_conninfo') AS ci, current_setting('primary_slot_name') AS slot");
      const current = rows[0].ci as string;
      const slot = (rows[0].slot as string) || null;
      const wanted = repointConninfo(current, primaryUrl, this.name);
      if (wanted === current) return { changed: false, slot };
      await c.query(`ALTER SYSTEM SET primary_conninfo = ${pg.escapeLiteral(wanted)}`);
      await c.query('SELECT pg_reload_conf()');
      return { changed: true, slot };
    }, 5000);
  }

  /** Creates a physical replication slot unless it exists (slots are not replicated: a new primary has none). */
  ensureSlot(slot: string): Promise<void> {
    return this.session(async (c) => {
      await c.query('SELECT pg_create_physical_replication_slot($1) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)', [slot]);
    }, 5000);
  }

  /**
   * Where a standby is: the timeline it replays (the one it receives while streaming, else the
   * newest its control file names) and its replay position; null on a node out of recovery.
   */
  recoveryPosition(): Promise<(StandbyPosition & { streaming: boolean }) | null> {
    return this.session(async (c) => {
      const { rows } = await c.query(
        `SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replay,
                greatest((SELECT timeline_id FROM pg_control_checkpoint()), (SELECT min_recovery_end_timeline FROM pg_control_recovery())) AS control_tli,
                (SELECT status FROM pg_stat_wal_receiver) AS receiver, (SELECT received_tli FROM pg_stat_wal_receiver) AS received_tli`,
      );
      const r = rows[0];
      if (!r.standby || r.replay === null) return null;
      const streaming = r.receiver === 'streaming';
      return { streaming, timeline: Number(streaming && r.received_tli ? r.received_tli : r.control_tli), replayLsn: r.replay as string };
    });
  }

  /** On a primary: the timeline it writes and how it got there (its history file; superuser). */
  timelineHistory(): Promise<{ timeline: number; history: TimelineSwitch[] }> {
    return this.session(async (c) => {
      const { rows } = await c.query("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS tli");
      const timeline = parseInt(rows[0].tli as string, 16);
      if (timeline === 1) return { timeline, history: [] };
      const file = await c.query('SELECT pg_read_file($1) AS text', [`pg_wal/${rows[0].tli}.history`]);
      return { timeline, history: parseTimelineHistory(file.rows[0].text as string) };
    });
  }

  /** Waits until the node (a standby) has replayed WAL up to `lsn`. */
  waitForReplay(lsn: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    return this.session(async (c) => {
      for (;;) {
        const { rows } = await c.query('SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) >= 0 AS caught_up', [lsn]);
        if (rows[0].caught_up) return;
        if (Date.now() > deadline) throw new ReplayTimeoutError(`the standby did not replay up to ${lsn} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }, 5000);
  }

  /** Applies synchronous-replication settings (on the primary) when they differ; returns whether anything changed. */
  applySyncSettings(wanted: SyncSettings): Promise<boolean> {
    return applySyncSettings(this.url, wanted);
  }

  recordFailover(e: FailoverEvent): Promise<void> {
    return this.session(async (c) => {
      await c.query(
        `INSERT INTO failover_events (term, from_node, to_node, reason, automatic, started_at, finished_at, duration_ms, outcome, error, promoted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [e.term, e.from, e.to, e.reason, e.automatic, e.startedAt, new Date(e.startedAt.getTime() + e.durationMs), e.durationMs, e.outcome, e.error, e.promotedAt ?? null],
      );
    }, 5000);
  }

  /** The highest term among the node's failover events; 0 when none or unreadable (a fresh cluster). */
  highestRecordedTerm(): Promise<number> {
    return this.session(async (c) => Number((await c.query('SELECT coalesce(max(term), 0) AS term FROM failover_events')).rows[0].term)).catch(() => 0);
  }

  /** Recent failovers, newest first. */
  recentFailovers(limit = 10): Promise<FailoverEvent[]> {
    return this.session(async (c) => {
      const { rows } = await c.query('SELECT * FROM failover_events ORDER BY started_at DESC LIMIT $1', [limit]);
      return rows.map((r) => ({
        term: r.term,
        from: r.from_node,
        to: r.to_node,
        reason: r.reason,
        automatic: r.automatic,
        startedAt: r.started_at,
        durationMs: r.duration_ms,
        outcome: r.outcome,
        error: r.error,
      }));
    }, 5000);
  }

  /** One short session; the connect timeout is the probes' unless the caller can wait longer. */
  private async session<T>(fn: (c: pg.Client) => Promise<T>, connectTimeoutMs = this.timeouts.connectTimeoutMs): Promise<T> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: connectTimeoutMs });
    client.on('error', () => undefined); // a dying server: the failed query reports it
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/** Recent failovers read from the node at `url` (the current primary). */
export function recentFailovers(url: string, limit = 10): Promise<FailoverEvent[]> {
  return new PostgresNode({ name: '', url, priority: 0 } as NodeConfig, { connectTimeoutMs: 5000, responseTimeoutMs: 30_000 }).recentFailovers(limit);
}

/**
 * A standby's primary_conninfo pointed at another primary: host and port replaced, every other
 * key (user, password, sslmode, application_name…) kept; application_name added when missing so
 * the new primary sees the standby by its node name. Pure.
 */
export function repointConninfo(conninfo: string, primaryUrl: string, nodeName: string): string {
  const u = new URL(primaryUrl);
  const pairs: [string, string][] = [];
  for (const m of conninfo.matchAll(/(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/g)) pairs.push([m[1], m[2]]);
  const set = (key: string, value: string) => {
    const quoted = /^[\w.:-]+$/.test(value) ? value : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    const at = pairs.findIndex(([k]) => k === key);
    if (at >= 0) pairs[at] = [key, quoted];
    else pairs.push([key, quoted]);
  };
  set('host', u.hostname);
  set('port', u.port || '5432');
  if (!pairs.some(([k]) => k === 'user')) set('user', decodeURIComponent(u.username || 'postgres'));
  if (!pairs.some(([k]) => k === 'application_name')) set('application_name', nodeName);
  return pairs.map(([k, v]) => `${k}=${v}`).join(' ');
}
