import { Redis } from 'ioredis';
import { loadConfig } from '../../config/load-config';
import { HaManager } from '../../ha/ha-manager';
import { haStatus } from '../../ha/ha-status';
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
    const status = await haStatus(config, new HaManager(config, redis));
    if (values.json) console.log(JSON.stringify(status));
    else {
      console.log(`term ${status.term}, primary ${status.primary ?? '(none yet)'}`);
      for (const n of status.nodes) {
        console.log(`  ${n.name.padEnd(10)} ${n.role.padEnd(12)} ${n.healthy ? 'healthy' : `failing ×${n.consecutiveFailures}`}  lag ${n.lagBytes ?? '?'} B  ${n.url}`);
      }
      for (const f of status.failovers) {
        console.log(`  failover term ${f.term}: ${f.from ?? '-'} → ${f.to} (${f.automatic ? 'automatic' : 'manual'}, ${f.outcome}, ${f.durationMs} ms): ${f.reason}`);
      }
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}
