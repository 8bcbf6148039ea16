import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { AppConfig } from '../config/config-schema';
import { ClusterState, healthyStandbys } from '../ha/cluster-state';
import { discoverPrimary, isWritable } from '../ha/primary-discovery';
import { getLogger } from '../logger';
import { createKnex } from './database';

const log = getLogger('router');

/**
 * Every write goes to the current primary. With `database.nodes` configured, the router keeps
 * one pool per node and follows the cluster state: the primary the health checks recorded,
 * changes published on the HA channel (every process switches at once), and a re-read every
 * health interval in case a message was missed. `knex` is a stable handle that always points
 * at the current primary's pool, so repositories never hold a stale connection.
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

  constructor(private readonly config: AppConfig) {
    this.current = config.database.nodes[0]?.name ?? 'default';
    this.knex = this.handle(() => this.current);
    this.reader = this.handle(() => this.readNode ?? this.current);
  }

  /** A stable knex handle whose every use goes to the pool of `node()` at that moment. */
  private handle(node: () => string): Knex {
    const pool = () => this.pool(node());
    return new Proxy(function routed() {} as unknown as Knex, {
      apply: (_t, _this, args: unknown[]) => (pool() as unknown as (...a: unknown[]) => unknown)(...args),
      get: (_t, prop) => {
        const p = pool();
        const value = Reflect.get(p, prop, p);
        return typeof value === 'function' ? value.bind(p) : value;
      },
    });
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
    this.subscriber.on('message', (_channel, message: string) => {
      const { term, primary } = JSON.parse(message) as { term: number; primary: string };
      this.switchTo(primary, term);
    });
    await this.subscriber.subscribe(state.channel);
    this.timer = setInterval(() => void refresh().catch(() => undefined), this.config.ha.health_check_interval_s * 1000);
    this.timer.unref();
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
    this.subscriber?.disconnect();
    await Promise.all([...this.pools.values()].map((k) => k.destroy()));
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
