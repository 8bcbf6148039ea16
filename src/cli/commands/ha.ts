import { cliActor, recordAuditAt } from '../../audit/audit-log';
import { createRedis } from '../../queues/redis-connection';
import { loadConfig } from '../../config/load-config';
import { HaManager, HaRequestError } from '../../ha/ha-manager';
import { rescueRows } from '../../consistency/rescue';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { nodeSchema } from '../../config/config-schema';
import { baseBackupAsStandby, rewindAsStandby, stopDataDir } from '../../ha/local-cluster';
import { haStatus, maskPassword } from '../../ha/ha-status';
import { createKnex } from '../../db/database';
import { UsageError, intOption, parse } from '../args';

export const HA_HELP = `image-crawler ha status [--json] | failover [--to NODE] | switchover [--to NODE] | rejoin --node NODE [--skip-rescue]
                   | add-node --name NAME --url URL --data-dir DIR [--priority N] | reinit --node NODE

  status     the cluster as the health checks see it: term, primary, leader, every node's role,
             health, consecutive failures and lag, and the last failovers
  failover   promote a standby now (the best one, or --to NODE)
  switchover planned move of the primary to a standby (the best one, or --to NODE), losing nothing
  rejoin     on NODE's host: first copy into the primary the rows only NODE holds (writes an
             asynchronous failover left behind; see README), then pg_rewind its data_dir onto
             the current primary and start it as a standby. --skip-rescue discards those rows.
  add-node   on the new node's host: a standby of the current primary in the empty DIR
             (pg_basebackup with a replication slot), on URL's port, started; added to the
             config file's database.nodes (--config; add the same line on every other host)
  reinit     on NODE's host: throw its data directory away and build it again from the primary
Needs database.nodes in the config (e.g. the cluster.yaml written by \`cluster up\`).`;

export async function haCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { to: { type: 'string' }, node: { type: 'string' }, 'skip-rescue': { type: 'boolean' }, name: { type: 'string' }, url: { type: 'string' }, 'data-dir': { type: 'string' }, priority: { type: 'string' } },
    true,
  );
  const action = positionals[0];
  if (values.help || !['status', 'failover', 'switchover', 'rejoin', 'add-node', 'reinit'].includes(action ?? '')) {
    if (!values.help) throw new UsageError('ha needs a subcommand: status, failover, switchover, rejoin, add-node or reinit');
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
    if (action === 'add-node' || action === 'reinit') {
      const { primary } = await manager.view();
      const source = config.database.nodes.find((n) => n.name === primary);
      if (!source) throw new UsageError(`the cluster has no known primary (${primary ?? 'none'}): start the health checks (a worker) first`);
      let node: { name: string; url: string; data_dir: string; priority: number };
      if (action === 'add-node') {
        if (!values.name || !values.url || !values['data-dir']) throw new UsageError('add-node needs --name NAME --url URL --data-dir DIR');
        const parsed = nodeSchema.safeParse({ name: values.name, url: values.url, priority: intOption(values.priority, 'priority', 0) ?? 50, data_dir: path.resolve(values['data-dir']) });
        if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `--${String(i.path[0]).replace('_', '-')}: ${i.message}`).join('; '));
        if (config.database.nodes.some((n) => n.name === values.name)) throw new UsageError(`${values.name} is already a node of the cluster (reinit rebuilds one)`);
        node = parsed.data as typeof node;
      } else {
        const named = config.database.nodes.find((n) => n.name === values.node);
        if (!named) throw new UsageError(`--node must name one of ${config.database.nodes.map((n) => n.name).join(', ')}`);
        if (!named.data_dir) throw new UsageError(`node ${named.name} has no data_dir in the config: reinit runs on its host and needs its PGDATA`);
        if (named.name === primary) throw new UsageError(`${named.name} is the primary: move the primary first (ha switchover)`);
        node = named as typeof node;
        await stopDataDir(node.data_dir);
        fs.rmSync(node.data_dir, { recursive: true, force: true });
      }
      await baseBackupAsStandby(node.data_dir, source.url, { name: node.name, port: Number(new URL(node.url).port || 5432) });
      const file = values.config ?? process.env.IMAGE_CRAWLER_CONFIG;
      if (action === 'add-node') {
        if (file) addNodeToConfigFile(file, node);
        await registerNode(source.url, node);
      }
      await recordAuditAt(source.url, { actor: cliActor(), role: 'admin', ip: null, action: `cli ha ${action}`, target: node.name, params: { url: node.url, dataDir: node.data_dir }, outcome: 'ok' });
      const line = `{ name: ${node.name}, url: "${node.url}", priority: ${node.priority}, data_dir: "${node.data_dir}" }`;
      console.log(
        values.json
          ? JSON.stringify({ node: node.name, primary: source.name, config: file ?? null })
          : `${node.name} streams from ${source.name}${action === 'add-node' ? `\n${file ? `added to ${file}` : 'add to database.nodes'}: ${line}\n(the same line on every other host's config, then restart its processes)` : ''}`,
      );
      return 0;
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
      for (const n of status.notInConfig) {
        console.log(`  ${n.name.padEnd(10)} added ${n.added_at} but NOT in this host's config: add { name: ${n.name}, url: "${n.url}", priority: ${n.priority} } to database.nodes`);
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

/** Appends a node to database.nodes of a YAML config file, keeping its comments and layout. */
function addNodeToConfigFile(file: string, node: { name: string; url: string; priority: number; data_dir: string }): void {
  const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
  const nodes = doc.getIn(['database', 'nodes']);
  const entry = doc.createNode({ name: node.name, url: node.url, priority: node.priority, data_dir: node.data_dir });
  entry.flow = true;
  if (YAML.isSeq(nodes)) nodes.add(entry);
  else doc.setIn(['database', 'nodes'], doc.createNode([entry]));
  fs.writeFileSync(file, doc.toString());
}

/** Records an added node in the cluster's own database (every host reads it: see ha status). */
async function registerNode(primaryUrl: string, node: { name: string; url: string; priority: number; data_dir: string }): Promise<void> {
  const knex = createKnex({ url: primaryUrl, poolSize: 1, connectionTimeoutS: 5 });
  try {
    await knex('cluster_nodes')
      .insert({ name: node.name, url: maskPassword(node.url), priority: node.priority, data_dir: node.data_dir, added_by: cliActor() })
      .onConflict('name')
      .merge();
  } finally {
    await knex.destroy();
  }
}
