import fs from 'node:fs';
import path from 'node:path';
import { clusterConfigYaml, clusterDown, clusterStatus, clusterUp, recordedBasePort, rejoinNode } from '../../ha/local-cluster';
import { UsageError, intOption, parse } from '../args';

export const CLUSTER_HELP = `image-crawler cluster up|down|status|rejoin [--dir DIR] [--port N] [--nodes K] [--node NAME --primary NAME] [--json]

A local PostgreSQL cluster for development: node1 (primary) on port N (default 55432, or the one
the cluster in DIR was made with) and its streaming standbys node2…nodeK on N+1… (--nodes K,
default 2; \`up\` on an existing cluster with a larger K adds standbys), data under
DIR (default ./pg-cluster). \`up\` writes
DIR/cluster.yaml, which every command accepts with --config. \`rejoin --node node1 --primary node2\`
rewinds a former primary with pg_rewind and starts it as a standby of the new primary.`;

export async function clusterCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { dir: { type: 'string' }, port: { type: 'string' }, nodes: { type: 'string' }, node: { type: 'string' }, primary: { type: 'string' } }, true);
  if (values.help) {
    console.log(CLUSTER_HELP);
    return 0;
  }
  const [action] = positionals;
  const dir = path.resolve(values.dir ?? 'pg-cluster');
  const port = intOption(values.port, 'port', 1024) ?? recordedBasePort(dir) ?? 55432;
  switch (action) {
    case 'up': {
      const cluster = await clusterUp(dir, port, intOption(values.nodes, 'nodes', 2) ?? 2);
      const configFile = path.join(cluster.dir, 'cluster.yaml');
      fs.writeFileSync(configFile, clusterConfigYaml(cluster));
      if (values.json) console.log(JSON.stringify({ dir: cluster.dir, config: configFile, nodes: cluster.nodes }));
      else {
        for (const n of cluster.nodes) console.log(`${n.name}: ${n.url} (${n === cluster.nodes[0] ? 'primary' : 'standby'})`);
        console.log(`config: ${configFile}\n  e.g. image-crawler crawl https://example.com/ --config ${configFile}`);
      }
      return 0;
    }
    case 'down':
      await clusterDown(dir, port);
      if (!values.json) console.log(`stopped the cluster in ${dir}`);
      return 0;
    case 'status': {
      const nodes = await clusterStatus(dir, port);
      if (values.json) console.log(JSON.stringify({ dir, nodes }));
      else {
        for (const n of nodes) {
          const role = n.inRecovery === null ? 'unreachable' : n.inRecovery ? 'standby' : 'primary';
          console.log(`${n.name}  port ${n.port}  ${n.running ? 'running' : 'stopped'}  ${n.running ? role : ''}${n.inRecovery ? `  replay lag ${n.replayLagBytes} bytes` : ''}`);
        }
      }
      return nodes.every((n) => n.running) ? 0 : 1;
    }
    case 'rejoin':
      if (!values.node || !values.primary) throw new UsageError('cluster rejoin needs --node NAME and --primary NAME');
      await rejoinNode(dir, port, values.node, values.primary);
      if (!values.json) console.log(`${values.node} is a standby of ${values.primary} again`);
      return 0;
    default:
      throw new UsageError(`cluster needs up, down, status or rejoin, got "${action ?? ''}"`);
  }
}
