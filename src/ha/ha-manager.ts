import { publishEvent } from '../events/event-bus';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { AppConfig, NodeConfig } from '../config/config-schema';
import { getLogger } from '../logger';
import type { PluginHost } from '../plugins/plugin-host';
import { enqueueCheck } from '../consistency/consistency-check';
import { AlertSender, evaluateAlerts } from '../alerts/alerts';
import { ClusterState, ClusterStateView, chooseStandby, healthyStandbys } from './cluster-state';
import { FailoverPolicy, Verdict, clusterIdentity, decide } from './failover-decision';
import type { ProbeResult } from './health-probe';
import { FailoverEvent, PostgresNode, ReplayTimeoutError } from './postgres-node';
import { desiredSyncSettings } from './sync-replication';

const log = getLogger('ha');

export type { FailoverEvent } from './postgres-node';

/** An operator's HA request that cannot be carried out (answered 409 by the API). */
export class HaRequestError extends Error {}

/** How long the leader lock lives: longer than a promotion takes. */
const LEADER_TTL_MS = 60_000;

/**
 * Carries out the HA duties of one health-check round: probe every node, record the results in
 * Redis, ask the pure decision what to do, and do it — adopt a primary, or fail over under the
 * leader lock and the fencing term (pg_promote on the chosen standby), recording the event in
 * the new primary. What to do is `decide`'s (pure); how, in SQL, is `PostgresNode`'s: this class
 * holds the order of the steps and the locks around them.
 */
export class HaManager {
  readonly state: ClusterState;
  private readonly nodes: NodeConfig[];
  /** The nodes, by name, behind the adapter that does the SQL. */
  private readonly pg = new Map<string, PostgresNode>();
  private readonly alerts: AlertSender;
  private readonly checksQueued = new Set<string>();

  /** @param notifiers where alerts go besides the log (a runtime's plugins; default: the built-in webhook and e-mail of `alerts:`) */
  constructor(private readonly config: AppConfig, private readonly redis: Redis, notifiers?: PluginHost) {
    this.state = new ClusterState(redis, config.redis.prefix);
    this.nodes = config.database.nodes;
    const timeouts = { connectTimeoutMs: config.ha.probe_connect_timeout_ms, responseTimeoutMs: config.ha.response_timeout_s * 1000 };
    for (const n of this.nodes) this.pg.set(n.name, new PostgresNode(n, timeouts));
    this.alerts = new AlertSender(redis, config.redis.prefix, config.alerts, notifiers);
  }

  get policy(): FailoverPolicy {
    const ha = this.config.ha;
    return {
      failureThreshold: ha.failure_threshold,
      autoFailover: ha.auto_failover,
      maximumLagOnFailoverBytes: ha.maximum_lag_on_failover_bytes,
      requireSynchronous: ha.sync_mode !== 'async',
    };
  }

  /** One health-check round (the repeatable job runs this once per interval). */
  async check(): Promise<{ verdict: Verdict; view: ClusterStateView; failover: FailoverEvent | null }> {
    const results = await Promise.all([...this.pg.values()].map((n) => n.probe()));
    await this.state.recordProbes(results);
    await this.confirmPrimaryFailure(results);
    const view = await this.state.view(this.nodes);
    const verdict = decide(this.state.snapshot(view), this.policy);
    const failover = await this.act(verdict, view);
    await this.alerts.send(evaluateAlerts(view, this.config.alerts)).catch((err) => log.error('could not send alerts', { error: (err as Error).message }));
    if (!failover && (verdict.decision.kind === 'healthy' || verdict.decision.kind === 'adopt')) {
      await this.keepSyncMode(verdict.decision.primary, view).catch((err) => log.error('could not apply the sync mode', { error: (err as Error).message }));
      await this.keepStandbysFollowing(verdict.decision.primary, view);
    }
    return { verdict, view, failover };
  }

  /**
   * A primary that failed this check is probed again every `ha.confirm_interval_ms` until it
   * answers or has failed `failure_threshold` checks in a row: the SPEC's three failed checks,
   * confirmed in seconds instead of two more full intervals.
   */
  private async confirmPrimaryFailure(results: ProbeResult[]): Promise<void> {
    const ha = this.config.ha;
    if (ha.confirm_interval_ms === 0) return;
    let view = await this.state.view(this.nodes);
    const node = view.primary ? this.pg.get(view.primary) : undefined;
    if (!node || results.find((r) => r.name === node.name)?.ok !== false) return;
    for (;;) {
      const failures = view.nodes.find((n) => n.name === node.name)?.consecutiveFailures ?? 0;
      if (failures >= ha.failure_threshold) return;
      await new Promise((r) => setTimeout(r, ha.confirm_interval_ms));
      const probe = await node.probe();
      await this.state.recordProbes([probe]);
      if (probe.ok) return;
      log.warn('primary failed a confirming probe', { primary: node.name, failures: failures + 1, error: probe.error });
      view = await this.state.view(this.nodes);
    }
  }

  /**
   * Keeps the primary's synchronous replication in line with the mode and the healthy standbys:
   * a standby that fails its probe is dropped at once, so commits never hang on it; it is taken
   * back when healthy. Both transitions are logged as events.
   */
  private async keepSyncMode(primary: string, view: ClusterStateView): Promise<void> {
    const node = this.pg.get(primary);
    if (!node) return;
    const healthy = healthyStandbys({ ...view, primary }).map((n) => n.name);
    const wanted = desiredSyncSettings(this.config.ha.sync_mode, healthy);
    if (await node.applySyncSettings(wanted)) {
      const degraded = this.config.ha.sync_mode !== 'async' && wanted.synchronousStandbyNames === '';
      log.warn(degraded ? 'sync replication degraded to async: no healthy standby' : 'sync replication settings applied', {
        primary,
        mode: this.config.ha.sync_mode,
        synchronousStandbyNames: wanted.synchronousStandbyNames,
        synchronousCommit: wanted.synchronousCommit,
      });
    }
  }

  /** A consistency check after every failover (SPEC §4), and when an old primary turns up. */
  /**
   * Every standby streams from the primary (as Patroni does): one the primary does not see
   * streaming — a third node after a failover, a standby that was down when it happened — is
   * re-pointed at it. Cheap when all is well: the primary's own probe lists who streams.
   */
  private async keepStandbysFollowing(primary: string, view: ClusterStateView, justPromoted = false): Promise<void> {
    const target = this.node(primary);
    for (const n of view.nodes) {
      // Just promoted: the primary's view of who streams is the old one's; every answering standby is re-pointed.
      if (n.name === primary || !n.reachable || n.inRecovery !== true || (!justPromoted && n.lagBytes !== null)) continue;
      await this.node(n.name)
        .follow(target.url)
        .then(async ({ changed, slot }) => {
          if (slot) await target.ensureSlot(slot);
          if (changed) log.warn('standby re-pointed at the primary', { node: n.name, primary, slot });
        })
        .catch((err) => log.warn('could not re-point a standby at the primary', { node: n.name, primary, error: (err as Error).message }));
    }
  }

  private async queueCheck(trigger: 'failover' | 'rejoin', jobId: string): Promise<void> {
    // The job id makes it once in Redis; this set saves asking again every health check.
    if (this.checksQueued.has(jobId)) return;
    await enqueueCheck({ redis: this.redis, config: this.config }, { trigger }, jobId).then(
      () => this.checksQueued.add(jobId),
      (err) => log.error('could not queue a consistency check', { trigger, error: (err as Error).message }),
    );
  }

  async view(): Promise<ClusterStateView> {
    return this.state.view(this.nodes);
  }

  private async act(verdict: Verdict, view: ClusterStateView): Promise<FailoverEvent | null> {
    if (verdict.foreign?.length) {
      log.error('nodes of another PostgreSQL cluster are refused', {
        nodes: verdict.foreign.map((name) => `${name} (system identifier ${systemIdOf(view, name)})`),
        cluster: clusterIdentity(this.state.snapshot(view)),
      });
    }
    if (verdict.needsRejoin.length > 0) {
      log.warn('former primary is writable: fenced (read-only), needs_rejoin', { nodes: verdict.needsRejoin, primary: view.primary, term: view.term });
      for (const name of verdict.needsRejoin) {
        await this.node(name).fence().then(
          ({ changed }) => changed && log.warn('former primary made read-only and its sessions ended', { node: name }),
          (err) => log.error('could not fence a former primary', { node: name, error: (err as Error).message }),
        );
        // Once per node and term: compare it with the primary, so rows only it holds are found.
        await this.queueCheck('rejoin', `rejoin-${name}-${view.term}`);
      }
    }
    const d = verdict.decision;
    switch (d.kind) {
      case 'healthy':
        return null;
      case 'adopt': {
        // With no term in Redis (it lost its state), continue from the database's record of terms.
        const recorded = view.term === 0 ? await this.node(d.primary).highestRecordedTerm() : 0;
        if ((await this.state.transition(view.term, d.primary, systemIdOf(view, d.primary), recorded)) !== null) {
          (d.reason ? log.warn : log.info)('primary adopted', { primary: d.primary, reason: d.reason });
        }
        return null;
      }
      case 'waiting':
        log.warn('primary failing', { primary: d.primary, failures: d.failures, reason: d.reason });
        return null;
      case 'no_candidate':
        log.error('primary down and no standby may take over', { from: d.from, reason: d.reason });
        return null;
      case 'failover':
        return this.failover(view.term, d.from, d.to, d.reason, true);
      case 'finish_promotion':
        return this.finishPromotion(view.term, d.primary, d.reason, true);
    }
  }

  private node(name: string): PostgresNode {
    const node = this.pg.get(name);
    if (!node) throw new HaRequestError(`${name} is not a configured node`);
    return node;
  }

  /**
   * Promotes again the node the term already names (the term moved, then pg_promote failed or
   * its process died): under the leader lock, and only while the term is still `term`.
   */
  private async finishPromotion(term: number, primary: string, reason: string, automatic: boolean): Promise<FailoverEvent | null> {
    const release = await this.state.lead(LEADER_TTL_MS);
    if (!release) return null;
    try {
      if ((await this.state.view(this.nodes)).term !== term) return null;
      const node = this.node(primary);
      const event = await promoteAs(node, { term, from: null, to: primary, reason, automatic, startedAt: new Date() });
      if (event.error) log.error('promotion failed again', { ...event });
      else log.warn('promotion finished', { ...event });
      await node.recordFailover(event).catch((err) => log.error('could not record the promotion', { error: (err as Error).message }));
      return event;
    } finally {
      await release();
    }
  }

  /**
   * A failover asked for by an operator: promote `to` (or the best reachable standby) now,
   * whatever the primary's health. Throws a message for the operator when nothing can be done.
   */
  async manualFailover(to?: string): Promise<FailoverEvent> {
    if (this.nodes.length === 0) throw new HaRequestError('no database.nodes configured: nothing to fail over to');
    const view = await this.view();
    const recorded = view.primary ? this.pg.get(view.primary) : undefined;
    if (recorded && (!to || to === recorded.name) && (await recorded.isStandby())) {
      // The last promotion did not finish: finishing it is the failover asked for.
      const event = await this.finishPromotion(view.term, recorded.name, 'manual failover requested by an operator (finishing an unfinished promotion)', false);
      if (!event) throw new HaRequestError('another failover is in progress; try again');
      return event;
    }
    const target = chooseStandby(view, to);
    if (!target) throw new HaRequestError(to ? `${to} is not a reachable standby` : 'no reachable standby to fail over to');
    const event = await this.failover(view.term, view.primary, target.name, 'manual failover requested by an operator', false);
    if (!event) throw new HaRequestError('another failover is in progress; try again');
    return event;
  }

  /**
   * A planned switchover that loses nothing: the primary stops accepting writes (read-only by
   * default, client sessions ended), the standby replays up to the primary's last WAL position,
   * then the term moves and the standby is promoted. The old primary is left fenced
   * (needs_rejoin) for `ha rejoin`. If the standby does not catch up in time, the primary is
   * made writable again and nothing changes.
   */
  async switchover(to?: string, catchUpTimeoutMs = 30_000): Promise<FailoverEvent> {
    if (this.nodes.length === 0) throw new HaRequestError('no database.nodes configured: nothing to switch over to');
    const view = await this.view();
    const old = view.primary ? this.pg.get(view.primary) : undefined;
    const oldState = view.nodes.find((n) => n.name === view.primary);
    if (!old || !oldState?.reachable) throw new HaRequestError('the primary is not healthy: use a failover, not a switchover');
    const standby = chooseStandby(view, to);
    if (!standby) throw new HaRequestError(to ? `${to} is not a reachable standby` : 'no reachable standby to switch over to');
    const target = this.node(standby.name);
    const release = await this.state.lead(LEADER_TTL_MS);
    if (!release) throw new HaRequestError('another failover is in progress; try again');
    let fenced = false;
    try {
      fenced = true; // (set before: a fence that fails halfway is undone below too)
      const lsn = (await old.fence()).lsn as string;
      await target.waitForReplay(lsn, catchUpTimeoutMs).catch((err: Error) => {
        throw err instanceof ReplayTimeoutError ? new HaRequestError(err.message) : err;
      });
      const startedAt = new Date();
      const newTerm = await this.state.transition(view.term, target.name, systemIdOf(view, target.name));
      if (newTerm === null) throw new HaRequestError('the cluster changed during the switchover');
      fenced = false; // from here the old primary stays read-only: it is no longer the primary
      const event = await promoteAs(target, { term: newTerm, from: old.name, to: target.name, reason: `planned switchover (standby caught up to ${lsn})`, automatic: false, startedAt });
      log.warn('switchover', { ...event });
      await target.recordFailover(event).catch((err) => log.error('could not record the switchover', { error: (err as Error).message }));
      await this.queueCheck('failover', `failover-${newTerm}`);
      return event;
    } finally {
      if (fenced) {
        // Aborted before the term moved: the old primary takes writes again.
        await old.unfence().catch((err) => log.error('could not make the primary writable again', { error: (err as Error).message }));
      }
      await release();
    }
  }

  /**
   * Moves the primary to `to`: under the leader lock, the term is advanced first (fencing the
   * old primary for every process), then the standby is promoted. Returns null when another
   * process holds the lock or moved the cluster first.
   */
  async failover(term: number, from: string | null, to: string, reason: string, automatic: boolean): Promise<FailoverEvent | null> {
    const release = await this.state.lead(LEADER_TTL_MS);
    if (!release) return null;
    try {
      // Decided on observations that may predate another leader's failover: look again now.
      if ((await this.state.view(this.nodes)).term !== term) return null;
      const old = from ? this.pg.get(from) : undefined;
      if (automatic && old) {
        const fresh = await old.probe();
        if (fresh.ok && fresh.inRecovery === false) {
          log.warn('failover cancelled: the primary answers again', { primary: from, term });
          return null;
        }
      }
      const startedAt = new Date();
      const newTerm = await this.state.transition(term, to, systemIdOf(await this.state.view(this.nodes), to));
      if (newTerm === null) return null; // someone else already moved the cluster
      // An old primary that still answers (a manual failover, a partition from the checker only)
      // stops taking writes before the standby takes them. One that does not answer may still be
      // reachable by some process: every process stops writing once its lease on the old term
      // runs out, so wait that long before the standby takes writes — unless its host refused
      // the connection: no postmaster listens there, so nobody can write to it.
      const unfenced = old ? await old.fence().then(() => null, (err: NodeJS.ErrnoException) => err) : null;
      if (unfenced && unfenced.code !== 'ECONNREFUSED') await sleep(this.config.ha.write_lease_ms);
      const target = this.node(to);
      const event = await promoteAs(target, { term: newTerm, from, to, reason, automatic, startedAt });
      if (event.error) log.error('failover failed', { ...event });
      else log.warn('failover', { ...event });
      await publishEvent(this.redis, this.config.redis.prefix, {
        type: 'failover',
        ...pick(event, 'term', 'from', 'to', 'outcome', 'automatic', 'reason', 'durationMs'),
        at: new Date().toISOString(),
      });
      await target.recordFailover(event).catch((err) => log.error('could not record the failover event', { error: (err as Error).message }));
      // The other standbys follow the new primary now, not at the next check (the old one is fenced, not followed).
      if (!event.error) await this.keepStandbysFollowing(to, { ...(await this.state.view(this.nodes)), primary: to }, true).catch(() => undefined);
      await this.queueCheck('failover', `failover-${newTerm}`);
      return event;
    } finally {
      await release();
    }
  }
}

function systemIdOf(view: ClusterStateView, node: string): string | null {
  return view.nodes.find((n) => n.name === node)?.systemId ?? null;
}

/** Promotes `node` and describes it as a failover event: outcome, duration, the node's own clock. */
async function promoteAs(node: PostgresNode, e: Pick<FailoverEvent, 'term' | 'from' | 'to' | 'reason' | 'automatic' | 'startedAt'>): Promise<FailoverEvent> {
  let error: string | null = null;
  let promotedAt: Date | null = null;
  try {
    promotedAt = await node.promote();
  } catch (err) {
    error = (err as Error).message;
  }
  return { ...e, durationMs: Date.now() - e.startedAt.getTime(), outcome: error ? 'failed' : 'success', error, promotedAt };
}

function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}
