import { Redis } from 'ioredis';
import { loadConfig } from '../../config/load-config';
import { HaManager, recentFailovers } from '../../ha/ha-manager';
import { UsageError, parse } from '../args';

export const HA_HELP = `image-crawler ha status [--json]

The cluster as the health checks see it: term, primary, leader, every node's role, health,
consecutive failures and lag, and the last failovers. Needs database.nodes in the config
(e.g. the cluster.yaml written by \`cluster up\`).`;

export async function haCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {}, true);
  if (values.help || positionals[0] !== 'status') {
    if (!values.help) throw new UsageError(`ha needs a subcommand: status`);
    console.log(HA_HELP);
    return 0;
  }
  const config = loadConfig({ file: values.config });
  if (config.database.nodes.length === 0) throw new UsageError('no database.nodes configured: this is a single-node setup without HA');
  const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 2 });
  try {
    const view = await new HaManager(config, redis).view();
    const primaryNode = config.database.nodes.find((n) => n.name === view.primary);
    const failovers = primaryNode ? await recentFailovers(primaryNode.url).catch(() => []) : [];
    const status = {
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
        lastError: n.lastError,
        checkedAt: n.checkedAt,
      })),
      failovers,
    };
    if (values.json) console.log(JSON.stringify(status));
    else {
      console.log(`term ${status.term}, primary ${status.primary ?? '(none yet)'}`);
      for (const n of status.nodes) {
        console.log(`  ${n.name.padEnd(10)} ${n.role.padEnd(12)} ${n.healthy ? 'healthy' : `failing ×${n.consecutiveFailures}`}  lag ${n.lagBytes ?? '?'} B  ${n.url}`);
      }
      for (const f of failovers) console.log(`  failover term ${f.term}: ${f.from ?? '-'} → ${f.to} (${f.automatic ? 'automatic' : 'manual'}, ${f.outcome}, ${f.durationMs} ms): ${f.reason}`);
    }
    return 0;
  } finally {
    redis.disconnect();
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
