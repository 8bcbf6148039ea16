import dns from 'node:dns/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { AppConfig, NodeConfig } from '../config/config-schema';
import { publishEvent } from '../events/event-bus';
import { acquireLock } from '../queues/redis-lock';
import { getLogger } from '../logger';
import { ClusterState } from './cluster-state';
import { rewindAsStandby } from './local-cluster';
import { PostgresNode } from './postgres-node';
import { hasForked } from './timeline';

const log = getLogger('ha');

/** The rewind lock's lifetime (renewed while the rewind runs). */
const REWIND_LOCK_MS = 60_000;

export interface RewindOutcome {
  node: string;
  primary: string;
  ok: boolean;
  error: string | null;
}

/**
 * The part of HA that needs a node's data directory, so it runs on that node's host (in the `ha`
 * process): a standby that replayed past the point where the new primary's timeline branched off
 * cannot follow it — re-pointing it (the health check's part) is not enough — and is rewound
 * onto the primary with pg_rewind and started again as its standby, as Patroni does. Only a
 * standby: it never acknowledged a write of its own, so the WAL thrown away was the old
 * primary's, which still holds it for the rescue. A writable former primary stays for `ha rejoin`,
 * which rescues its rows first.
 */
export class NodeKeeper {
  private readonly state: ClusterState;
  private readonly timeouts: { connectTimeoutMs: number; responseTimeoutMs: number };
  /** Consecutive checks each node was seen forked: a rewind needs two, so a standby between reconnects is left alone. */
  private readonly forkedChecks = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly config: AppConfig, private readonly redis: Redis) {
    this.state = new ClusterState(redis, config.redis.prefix);
    this.timeouts = { connectTimeoutMs: config.ha.probe_connect_timeout_ms, responseTimeoutMs: config.ha.response_timeout_s * 1000 };
  }

  /** Checks every health interval until stop(). */
  start(): void {
    const every = this.config.ha.health_check_interval_s * 1000;
    const loop = () => {
      this.running = this.check()
        .catch((err) => log.error('node keeper check failed', { error: (err as Error).message }))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(loop, every);
        });
    };
    this.timer = setTimeout(loop, every);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One look at this host's standbys; rewinds those seen forked twice in a row. */
  async check(): Promise<RewindOutcome[]> {
    const nodes = this.config.database.nodes;
    const view = await this.state.view(nodes);
    const primaryConfig = nodes.find((n) => n.name === view.primary);
    if (!primaryConfig) return [];
    const primary = new PostgresNode(primaryConfig, this.timeouts);
    let history: Awaited<ReturnType<PostgresNode['timelineHistory']>> | null = null;
    const outcomes: RewindOutcome[] = [];
    for (const config of await localNodes(nodes)) {
      if (config.name === primary.name) continue;
      const position = await new PostgresNode(config, this.timeouts).recoveryPosition().catch(() => null);
      history ??= position && !position.streaming ? await primary.timelineHistory() : null;
      if (!position || position.streaming || !history || !hasForked(position, history.timeline, history.history)) {
        this.forkedChecks.delete(config.name);
        continue;
      }
      const seen = (this.forkedChecks.get(config.name) ?? 0) + 1;
      this.forkedChecks.set(config.name, seen);
      log.warn('standby forked off the primary timeline', { node: config.name, primary: primary.name, timeline: position.timeline, replayLsn: position.replayLsn, primaryTimeline: history.timeline, rewindAt: seen >= 2 ? 'now' : 'next check' });
      if (seen >= 2) outcomes.push(await this.rewind(config, primaryConfig));
    }
    return outcomes;
  }

  private async rewind(node: NodeConfig, primary: NodeConfig): Promise<RewindOutcome> {
    const prefix = this.config.redis.prefix;
    const lock = await acquireLock(this.redis, `${prefix}:ha:rewind:${node.name}`, REWIND_LOCK_MS);
    if (!lock) return { node: node.name, primary: primary.name, ok: false, error: 'another process is rewinding it' };
    let outcome: RewindOutcome;
    try {
      await rewindAsStandby(node.data_dir as string, primary.url);
      this.forkedChecks.delete(node.name);
      log.warn('forked standby rewound onto the primary and streaming again', { node: node.name, primary: primary.name });
      outcome = { node: node.name, primary: primary.name, ok: true, error: null };
    } catch (err) {
      log.error('could not rewind a forked standby', { node: node.name, primary: primary.name, error: (err as Error).message });
      outcome = { node: node.name, primary: primary.name, ok: false, error: (err as Error).message };
    } finally {
      await lock.release();
    }
    await publishEvent(this.redis, prefix, { type: 'rewind', ...outcome, at: new Date().toISOString() });
    return outcome;
  }
}

/**
 * The nodes whose data directory is on this host: a `data_dir` holding a database, at an
 * address of this machine (a config shared by every host names the same path for each node).
 * Looked at on every check, not once at start: a node whose data directory is being rebuilt
 * (restored, re-cloned) is picked up when it is back; only such nodes' hosts are looked up.
 */
export async function localNodes(nodes: NodeConfig[]): Promise<NodeConfig[]> {
  const own = new Set(Object.values(os.networkInterfaces()).flatMap((addrs) => (addrs ?? []).map((a) => a.address)));
  const isLocal = async (host: string) => {
    const addresses = await dns.lookup(host.replace(/^\[|\]$/g, ''), { all: true }).catch(() => []);
    return addresses.some((a) => own.has(a.address));
  };
  const out: NodeConfig[] = [];
  for (const n of nodes) {
    if (n.data_dir && fs.existsSync(path.join(n.data_dir, 'PG_VERSION')) && (await isLocal(new URL(n.url).hostname))) out.push(n);
  }
  return out;
}
