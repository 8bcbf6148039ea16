import { cliActor, recordAuditAt } from '../../audit/audit-log';
import { createRedis } from '../../queues/redis-connection';
import { loadConfig } from '../../config/load-config';
import { HaManager, HaRequestError } from '../../ha/ha-manager';
import { rescueRows } from '../../consistency/rescue';
import { rewindAsStandby } from '../../ha/local-cluster';
import { haStatus } from '../../ha/ha-status';
import { UsageError, parse } from '../args';

export const HA_HELP = `image-crawler ha status [--json] | failover [--to NODE] | switchover [--to NODE] | rejoin --node NODE [--skip-rescue]

  status     the cluster as the health checks see it: term, primary, leader, every node's role,
             health, consecutive failures and lag, and the last failovers
  failover   promote a standby now (the best one, or --to NODE)
  switchover planned move of the primary to a standby (the best one, or --to NODE), losing nothing
  rejoin     on NODE's host: first copy into the primary the rows only NODE holds (writes an
             asynchronous failover left behind; see README), then pg_rewind its data_dir onto
             the current primary and start it as a standby. --skip-rescue discards those rows.
Needs database.nodes in the config (e.g. the cluster.yaml written by \`cluster up\`).`;

export async function haCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { to: { type: 'string' }, node: { type: 'string' }, 'skip-rescue': { type: 'boolean' } }, true);
  const action = positionals[0];
  if (values.help || !['status', 'failover', 'switchover', 'rejoin'].includes(action ?? '')) {
    if (!values.help) throw new UsageError('ha needs a subcommand: status, failover, switchover or rejoin');
    console.log(HA_HELP);
    return 0;
  }
  const config = loadConfig({ file: values.config });
  if (config.database.nodes.length === 0) throw new UsageError('no database.nodes configured: this is a single-node setup without HA');
  const redis = createRedis(config.redis, { maxRetriesPerRequest: 2 });
  try {
    const manager = new HaManager(config, redis);
    if (action === 'failover' || action === 'switchover') {
      const move = action === 'failover' ? manager.manualFailover(values.to) : manager.switchover(values.to);
      const event = await move.catch((err) => {
        throw err instanceof HaRequestError ? new UsageError(err.message) : err;
      });
      const newPrimary = config.database.nodes.find((n) => n.name === event.to) as (typeof config.database.nodes)[number];
      await recordAuditAt(newPrimary.url, { actor: cliActor(), role: 'admin', ip: null, action: `cli ha ${action}`, target: event.to, params: { to: values.to ?? null, from: event.from }, outcome: event.outcome });
      console.log(values.json ? JSON.stringify(event) : `term ${event.term}: ${event.from ?? '-'} → ${event.to} ${event.outcome} in ${event.durationMs} ms`);
      return event.outcome === 'success' ? 0 : 1;
    }
    if (action === 'rejoin') {
      const node = config.database.nodes.find((n) => n.name === values.node);
      if (!node) throw new UsageError(`--node must name one of ${config.database.nodes.map((n) => n.name).join(', ')}`);
      if (!node.data_dir) throw new UsageError(`node ${node.name} has no data_dir in the config: rejoin runs on its host and needs its PGDATA`);
      const { primary } = await manager.view();
      const source = config.database.nodes.find((n) => n.name === primary);
      if (!source || source.name === node.name) throw new UsageError(`the cluster's primary is ${primary ?? 'unknown'}: nothing to rejoin ${node.name} to`);
      if (!values['skip-rescue']) {
        // pg_rewind throws away what only this node holds: copy it into the primary first.
        const r = await rescueRows(config, node.name, source.name).catch((err) => {
          throw new UsageError(`cannot rescue the rows only ${node.name} holds (${(err as Error).message}); start it and retry, or pass --skip-rescue to discard them`);
        });
        console.log(values.json ? JSON.stringify(r) : `rescued from ${node.name} into ${source.name}: ${r.inserted} inserted, ${r.updated} updated, ${r.deleted} deleted`);
      }
      await rewindAsStandby(node.data_dir, source.url);
      await recordAuditAt(source.url, { actor: cliActor(), role: 'admin', ip: null, action: 'cli ha rejoin', target: node.name, params: { skipRescue: Boolean(values['skip-rescue']) }, outcome: 'ok' });
      console.log(`${node.name} rewound and started as a standby of ${source.name}`);
      return 0;
    }
    const status = await haStatus(config, manager);
    if (values.json) console.log(JSON.stringify(status));
    else {
      console.log(`term ${status.term}, primary ${status.primary ?? '(none yet)'}`);
      for (const n of status.nodes) {
        console.log(`  ${n.name.padEnd(10)} ${n.role.padEnd(12)} ${n.healthy ? 'healthy' : `failing ×${n.consecutiveFailures}`}  lag ${n.lagBytes ?? '?'} B${n.role === 'standby' ? `  ${n.streamsFrom ? `← ${n.streamsFrom}` : 'NOT streaming from the primary'}` : ''}  ${n.url}`);
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
