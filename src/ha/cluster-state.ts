import type { Redis } from 'ioredis';
import { acquireLock } from '../queues/redis-lock';
import { ScriptedRedis, withScripts } from '../queues/lua-scripts';
import type { ClusterSnapshot, NodeHealth } from './failover-decision';
import type { ProbeResult } from './health-probe';

/**
 * The cluster as every process sees it, in Redis: the term and primary, each node's last probe
 * and consecutive failures, the leader lock. Changes of primary are published on a channel so
 * every process learns them at once.
 */

export interface NodeState extends NodeHealth {
  /** On a standby: seconds since the last replayed transaction. */
  lagSeconds: number | null;
  responseMs: number | null;
  lastError: string | null;
  checkedAt: string | null;
}

export interface ClusterStateView {
  term: number;
  primary: string | null;
  /** The system identifier of the cluster this state belongs to (recorded with every transition). */
  systemId: string | null;
  leader: string | null;
  nodes: NodeState[];
}

/** Reachable standbys (not the primary), highest priority first. */
export function healthyStandbys(view: ClusterStateView): NodeState[] {
  return view.nodes.filter((n) => n.name !== view.primary && n.reachable && n.inRecovery === true).sort((a, b) => b.priority - a.priority);
}

/** The standby an operator's request moves the primary to: `to` if it is a healthy standby, else the best one. */
export function chooseStandby(view: ClusterStateView, to?: string): NodeState | undefined {
  const standbys = healthyStandbys(view);
  return to ? standbys.find((n) => n.name === to) : standbys[0];
}

/** A standby's lag when the primary answers but does not list it among its replicas. */
const UNKNOWN_LAG = 'unknown';

export class ClusterState {
  private readonly redis: ScriptedRedis;
  readonly channel: string;

  constructor(redis: Redis, private readonly prefix: string) {
    this.redis = withScripts(redis);
    this.channel = `${prefix}:ha:events`;
  }

  private get stateKey() {
    return `${this.prefix}:ha:state`;
  }

  private nodeKey(name: string) {
    return `${this.prefix}:ha:node:${name}`;
  }

  /** Stores one round of probes; failures count up, a success resets them. */
  async recordProbes(results: ProbeResult[]): Promise<void> {
    const failures = await Promise.all(results.map((r) => this.redis.hget(this.nodeKey(r.name), 'consecutive_failures')));
    // The primary's view of each standby's lag is the one failover limits apply to. While a
    // writable node answers, a standby it does not list is not replicating: its lag is unknown
    // (too far behind to promote) rather than the last value seen. While none answers (the
    // primary is down), the last known lag stands: it is the standby's state when the primary was
    // last seen.
    const writable = results.filter((r) => r.ok && r.inRecovery === false);
    const lagFromPrimary = Object.assign({}, ...writable.map((r) => r.standbyLagBytes)) as Record<string, number>;
    const syncFromPrimary = Object.assign({}, ...writable.map((r) => r.standbySync)) as Record<string, boolean>;
    const pipe = this.redis.pipeline();
    results.forEach((r, i) => {
      const fields: Record<string, string | number> = {
        reachable: r.ok ? 1 : 0,
        consecutive_failures: r.ok ? 0 : Number(failures[i] ?? 0) + 1,
        response_ms: r.responseMs,
        last_error: r.error ?? '',
        checked_at: new Date().toISOString(),
      };
      if (r.inRecovery !== null) fields.in_recovery = r.inRecovery ? 1 : 0;
      if (r.ok) fields.timeline = r.timeline ?? '';
      if (r.systemId) fields.system_id = r.systemId;
      if (r.name in lagFromPrimary) fields.lag_bytes = lagFromPrimary[r.name];
      else if (writable.length > 0) fields.lag_bytes = UNKNOWN_LAG;
      // Likewise whether it was a synchronous standby when the primary was last seen.
      if (writable.length > 0) fields.synchronous = syncFromPrimary[r.name] ? 1 : 0;
      if (r.inRecovery === false) fields.lag_bytes = 0;
      fields.lag_seconds = r.replayDelaySeconds ?? '';
      pipe.hset(this.nodeKey(r.name), fields);
    });
    await pipe.exec();
  }

  /** The term and its primary only: one round trip, for the routers' write lease. */
  async record(): Promise<{ term: number; primary: string | null }> {
    const [term, primary] = await this.redis.hmget(this.stateKey, 'term', 'primary');
    return { term: Number(term ?? 0), primary: primary || null };
  }

  async view(nodes: { name: string; priority: number }[]): Promise<ClusterStateView> {
    const pipe = this.redis.pipeline().hgetall(this.stateKey).get(`${this.prefix}:ha:leader`);
    for (const n of nodes) pipe.hgetall(this.nodeKey(n.name));
    const res = ((await pipe.exec()) ?? []).map(([, v]) => v);
    const state = res[0] as Record<string, string>;
    return {
      term: Number(state.term ?? 0),
      primary: state.primary || null,
      systemId: state.system_id || null,
      leader: (res[1] as string | null) ?? null,
      nodes: nodes.map((n, i) => {
        const h = res[i + 2] as Record<string, string>;
        return {
          name: n.name,
          priority: n.priority,
          reachable: h.reachable === '1',
          consecutiveFailures: Number(h.consecutive_failures ?? 0),
          inRecovery: h.in_recovery === undefined ? null : h.in_recovery === '1',
          lagBytes: h.lag_bytes === undefined || h.lag_bytes === UNKNOWN_LAG ? null : Number(h.lag_bytes),
          timeline: h.timeline ? Number(h.timeline) : null,
          synchronous: h.synchronous === undefined ? null : h.synchronous === '1',
          systemId: h.system_id || null,
          lagSeconds: h.lag_seconds ? Number(h.lag_seconds) : null,
          responseMs: h.response_ms === undefined ? null : Number(h.response_ms),
          lastError: h.last_error || null,
          checkedAt: h.checked_at ?? null,
        };
      }),
    };
  }

  snapshot(view: ClusterStateView): ClusterSnapshot {
    return { term: view.term, primary: view.primary, systemId: view.systemId, nodes: view.nodes };
  }

  /**
   * Compare-and-set of the primary under the term; returns the new term, or null when stale.
   * `recordedTerm`: the highest term the database holds, so terms keep rising after Redis lost
   * its state (routers never follow a term lower than one they saw).
   */
  async transition(expectedTerm: number, primary: string, systemId?: string | null, recordedTerm = 0): Promise<number | null> {
    const term = await this.redis.haTransition(this.stateKey, expectedTerm, primary, Date.now(), systemId ?? '', recordedTerm);
    if (term < 0) return null;
    await this.redis.publish(this.channel, JSON.stringify({ term, primary }));
    return term;
  }

  /**
   * The leader lock: one process acts on a decision at a time. Renewed while the work runs (a
   * promotion may wait a minute); returns a release function, or null.
   */
  async lead(ttlMs: number): Promise<(() => Promise<void>) | null> {
    const lock = await acquireLock(this.redis, `${this.prefix}:ha:leader`, ttlMs);
    return lock && (() => lock.release());
  }
}
