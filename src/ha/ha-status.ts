import pg from 'pg';
import type { AppConfig } from '../config/config-schema';
import { HaManager } from './ha-manager';
import { FailoverEvent, recentFailovers } from './postgres-node';

export interface HaStatus {
  enabled: boolean;
  term: number;
  primary: string | null;
  leader: string | null;
  nodes: {
    name: string;
    role: 'primary' | 'standby' | 'needs_rejoin' | 'unknown';
    healthy: boolean;
    url: string;
    consecutiveFailures: number;
    lagBytes: number | null;
    lagSeconds: number | null;
    /** The node a standby streams from, as the primary sees it (null: not streaming from the primary). */
    streamsFrom: string | null;
    lastError: string | null;
    checkedAt: string | null;
  }[];
  failovers: FailoverEvent[];
  /** Nodes added to the cluster (`ha add-node`, recorded in the database) that this host's config does not name. */
  notInConfig: { name: string; url: string; priority: number; added_at: string }[];
}

/** The cluster as the health checks see it, for `ha status` and `GET /api/ha-status`. */
export async function haStatus(config: AppConfig, manager: HaManager): Promise<HaStatus> {
  if (config.database.nodes.length === 0) {
    return { enabled: false, term: 0, primary: null, leader: null, nodes: [], failovers: [], notInConfig: [] };
  }
  const view = await manager.view();
  const primaryNode = config.database.nodes.find((n) => n.name === view.primary);
  const failovers = primaryNode ? await recentFailovers(primaryNode.url).catch(() => []) : [];
  const registered = primaryNode ? await registeredNodes(primaryNode.url).catch(() => []) : [];
  const configured = new Set(config.database.nodes.map((n) => n.name));
  return {
    enabled: true,
    term: view.term,
    primary: view.primary,
    leader: view.leader,
    nodes: view.nodes.map((n) => ({
      name: n.name,
      role: n.name === view.primary ? 'primary' : n.inRecovery === false ? 'needs_rejoin' : n.inRecovery ? 'standby' : 'unknown',
      healthy: n.reachable,
      url: maskPassword(config.database.nodes.find((c) => c.name === n.name)?.url ?? ''),
      consecutiveFailures: n.consecutiveFailures,
      lagBytes: n.lagBytes,
      lagSeconds: n.lagSeconds,
      streamsFrom: n.name !== view.primary && n.lagBytes !== null ? view.primary : null,
      lastError: n.lastError,
      checkedAt: n.checkedAt,
    })),
    failovers,
    notInConfig: registered.filter((n) => !configured.has(n.name)),
  };
}

/** The nodes recorded by `ha add-node`, read from the primary. */
async function registeredNodes(url: string): Promise<HaStatus['notInConfig']> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    const { rows } = await c.query('SELECT name, url, priority, added_at FROM cluster_nodes ORDER BY added_at');
    return rows.map((r) => ({ name: r.name, url: r.url, priority: r.priority, added_at: new Date(r.added_at).toISOString() }));
  } finally {
    await c.end();
  }
}

export function maskPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return url;
  }
}
