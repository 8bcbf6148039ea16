import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { AppConfig } from '../config/config-schema';
import { ClusterState, healthyStandbys } from '../ha/cluster-state';
import { discoverPrimary, isWritable } from '../ha/primary-discovery';
import { StaleClusterViewError } from '../errors';
import { getLogger } from '../logger';
import { createKnex } from './database';

const log = getLogger('router');

/**
 * Every write goes to the current primary. With `database.nodes` configured, the router keeps
 * one pool per node and follows the cluster state: the primary the health checks recorded,
 * changes published on the HA channel (every process switches at once), and a re-read every
 * health interval in case a message was missed. `knex` is a stable handle that always points
 * at the current primary's pool, so repositories never hold a stale connection.
 *
 * Writes also need a lease (`ha.write_lease_ms`): the term and primary re-read from Redis within
 * that long. A process cut off from Redis stops using the primary's pool once its lease runs
 * out, and a failover that could not fence the old primary waits as long before promoting, so
 * no write is acknowledged by a deposed primary (Patroni's primary demotes itself when it cannot
 * renew its leader key; here the writers stand down instead).
 */
export class DatabaseRouter {
  readonly knex: Knex;
  /** Reads that may be served by a healthy standby (`ha.read_from_standby`), else the primary. */
  readonly reader: Knex;
  private readonly pools = new Map<string, Knex>();
  private readonly listeners: ((node: string) => void)[] = [];
  private current: string;
  private readNode: string | null = null;
  private term = -1;
  /** A term whose recorded primary was found not writable at start: not followed. */
  private distrusted: number | null = null;
  private subscriber: Redis | null = null;
  private timer: NodeJS.Timeout | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  /** Writes may go out until then (epoch ms). Unlimited for a single node and before `follow`. */
  private leaseUntil = Infinity;
  /** Stands in for the primary's pool while the lease has run out: every query it runs is refused. */
  private refusing: Knex | null = null;

  constructor(private readonly config: AppConfig) {
    this.current = config.database.nodes[0]?.name ?? 'default';
    this.knex = this.handle(() => this.writePool());
    this.reader = this.handle(() => this.pool(this.readNode ?? this.current));
  }

  /** A stable knex handle whose every use goes to `pool()` at that moment. */
  private handle(pool: () => Knex): Knex {
    return new Proxy(function routed() {} as unknown as Knex, {
      apply: (_t, _this, args: unknown[]) => (pool() as unknown as (...a: unknown[]) => unknown)(...args),
      get: (_t, prop) => {
        const p = pool();
        const value = Reflect.get(p, prop, p);
        return typeof value === 'function' ? value.bind(p) : value;
      },
    });
  }

  /**
   * The primary's pool while the write lease holds; after, a pool that refuses each query with
   * StaleClusterViewError when it runs (as a rejected promise, like any database failure).
   */
  private writePool(): Knex {
    if (Date.now() <= this.leaseUntil) return this.pool(this.current);
    if (!this.refusing) {
      const refusing = createKnex({ url: 'postgres://lease-expired.invalid/none', poolSize: 1, connectionTimeoutS: 1 });
      refusing.client.acquireConnection = () =>
        Promise.reject(new StaleClusterViewError(this.current, Date.now() - this.leaseUntil + this.config.ha.write_lease_ms));
      this.refusing = refusing;
    }
    return this.refusing;
  }

  /** The node reads go to now. */
  get readFrom(): string {
    return this.readNode ?? this.current;
  }

  /** The node writes go to now. */
  get primary(): string {
    return this.current;
  }

  /** Follows the cluster state (no-op for a single node). */
  async follow(redis: Redis): Promise<void> {
    if (this.config.database.nodes.length === 0) return;
    const state = new ClusterState(redis, this.config.redis.prefix);
    const refresh = async () => {
      const view = await state.view(this.config.database.nodes);
      if (this.term < 0 && (!view.primary || !(await isWritable(this.config, view.primary)))) {
        // Nothing recorded, or a record this cluster's nodes contradict (Redis kept the state of
        // an earlier cluster on these addresses): ask the nodes rather than assume, and leave that
        // record alone until the health check replaces it.
        const found = await discoverPrimary(this.config, view.systemId);
        if (found) {
          this.distrusted = view.primary ? view.term : null;
          this.switchTo(found, 0);
        }
      } else if (view.primary && view.term !== this.distrusted) {
        this.switchTo(view.primary, view.term);
      }
      const standby = this.config.ha.read_from_standby ? healthyStandbys(view)[0] : undefined;
      this.readNode = standby?.name ?? null;
    };
    await refresh();
    this.subscriber = redis.duplicate();
    this.subscriber.on('error', () => undefined); // the main connection logs Redis trouble; ioredis reconnects both
    this.subscriber.on('message', (_channel, message: string) => {
      const { term, primary } = JSON.parse(message) as { term: number; primary: string };
      this.switchTo(primary, term);
    });
    await this.subscriber.subscribe(state.channel);
    this.timer = setInterval(() => void refresh().catch(() => undefined), this.config.ha.health_check_interval_s * 1000);
    this.timer.unref();
    const leaseMs = this.config.ha.write_lease_ms;
    if (leaseMs > 0) {
      await this.renewLease(state, leaseMs);
      this.leaseTimer = setInterval(() => void this.renewLease(state, leaseMs).catch(() => undefined), Math.max(50, Math.floor(leaseMs / 3)));
      this.leaseTimer.unref();
    }
  }

  /**
   * Re-reads the term and its primary; the lease runs from the moment of asking. A newer term is
   * followed at once (a missed message); a record with no primary (Redis restarted empty, not yet
   * adopted) or the distrusted one leaves the discovered primary in place.
   */
  private async renewLease(state: ClusterState, leaseMs: number): Promise<void> {
    const askedAt = Date.now();
    const rec = await state.record();
    if (rec.primary && rec.term !== this.distrusted) {
      if (rec.term < this.term) {
        // The record went back: Redis lost its state and the health check adopted anew.
        log.warn('cluster term went back (Redis lost its state?): following the record', { from: this.term, to: rec.term, primary: rec.primary });
        this.term = -1;
      }
      this.switchTo(rec.primary, rec.term);
      if (rec.primary !== this.current || rec.term !== this.term) return; // a node this process does not know
    }
    this.leaseUntil = askedAt + leaseMs;
  }

  /** Calls `listener` whenever writes move to another node. */
  onPrimaryChange(listener: (node: string) => void): void {
    this.listeners.push(listener);
  }

  /** Routes writes to `node` unless `term` is older than what we already follow. */
  switchTo(node: string, term: number): void {
    if (term < this.term || (term === this.term && node === this.current)) return;
    if (!this.config.database.nodes.some((n) => n.name === node)) return;
    const changed = node !== this.current;
    if (changed) log.warn('database primary changed: routing writes', { from: this.current, to: node, term });
    this.current = node;
    this.term = term;
    if (this.readNode === node) this.readNode = null; // the standby we read from was promoted
    if (changed) for (const listener of this.listeners) listener(node);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.subscriber?.disconnect();
    await Promise.all([...this.pools.values(), ...(this.refusing ? [this.refusing] : [])].map((k) => k.destroy()));
  }

  private pool(name: string): Knex {
    let pool = this.pools.get(name);
    if (!pool) {
      const node = this.config.database.nodes.find((n) => n.name === name);
      pool = createKnex({
        url: node?.url ?? this.config.database.url,
        poolSize: this.config.database.pool_size,
        connectionTimeoutS: this.config.database.connection_timeout_s,
      });
      this.pools.set(name, pool);
    }
    return pool;
  }
}
