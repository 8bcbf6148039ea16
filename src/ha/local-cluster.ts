import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { ToolError, ownByPostgres, runTool } from '../system/run-tool';

export { ownByPostgres };

/**
 * A local PostgreSQL cluster for development and tests: a primary and one or more streaming
 * standbys on consecutive spare ports, built with this machine's server binaries (initdb, pg_basebackup -R,
 * pg_ctl), run as the `postgres` user when we are root (initdb refuses root). `wal_log_hints`
 * is on so pg_rewind can turn a former primary into a standby later. Trust authentication on
 * 127.0.0.1 only: a development cluster holds no secret.
 */

export interface ClusterNode {
  name: string;
  port: number;
  dataDir: string;
  url: string;
}

export interface LocalCluster {
  dir: string;
  /** node1 (made primary), then its streaming standbys node2…nodeN. */
  nodes: ClusterNode[];
}

export interface NodeStatus extends ClusterNode {
  running: boolean;
  /** pg_is_in_recovery(): true for a standby; null when not reachable. */
  inRecovery: boolean | null;
  /** Bytes the standby's replay is behind the primary (on the standby: replay lag from its own view). */
  replayLagBytes: number | null;
}

const DATABASE = 'postgres';

/** Directory of initdb, pg_ctl, pg_basebackup: $PG_BIN, else the newest /usr/lib/postgresql/<v>/bin. */
export function pgBinDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length === 0) throw new Error('PostgreSQL server binaries not found: set PG_BIN to the directory holding initdb and pg_ctl');
  versions.sort((a, b) => Number(b) - Number(a));
  return path.join(root, versions[0], 'bin');
}

/** The base port a cluster in `dir` was made with (node1's `port` setting), or null when there is none. */
export function recordedBasePort(dir: string): number | null {
  const conf = path.join(path.resolve(dir), 'node1', 'postgresql.conf');
  if (!fs.existsSync(conf)) return null;
  const ports = [...fs.readFileSync(conf, 'utf8').matchAll(/^\s*port\s*=\s*(\d+)/gm)];
  return ports.length > 0 ? Number(ports[ports.length - 1][1]) : null; // later lines win
}

/** The nodes a cluster in `dir` has (node1…nodeN directories; at least `min`). */
function nodeCount(dir: string, min = 2): number {
  let n = 0;
  while (fs.existsSync(path.join(path.resolve(dir), `node${n + 1}`, 'PG_VERSION'))) n++;
  return Math.max(n, min);
}

export function describeCluster(dir: string, basePort: number, count = nodeCount(dir)): LocalCluster {
  const abs = path.resolve(dir);
  const node = (name: string, port: number): ClusterNode => ({
    name,
    port,
    dataDir: path.join(abs, name),
    url: `postgres://postgres@127.0.0.1:${port}/${DATABASE}`,
  });
  return { dir: abs, nodes: Array.from({ length: count }, (_, i) => node(`node${i + 1}`, basePort + i)) };
}

/** Creates (first time) and starts the primary (node1) and its streaming standbys (node2…nodeN; `count` 2 at least). */
export async function clusterUp(dir: string, basePort: number, count = nodeCount(dir)): Promise<LocalCluster> {
  const cluster = describeCluster(dir, basePort, Math.max(count, nodeCount(dir)));
  const [primary, ...standbys] = cluster.nodes;
  fs.mkdirSync(cluster.dir, { recursive: true });
  ownByPostgres(cluster.dir);

  if (!fs.existsSync(path.join(primary.dataDir, 'PG_VERSION'))) {
    await pgTool('initdb', ['-D', primary.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-instructions']);
    fs.appendFileSync(path.join(primary.dataDir, 'postgresql.conf'), nodeSettings(primary, cluster.dir));
    fs.appendFileSync(path.join(primary.dataDir, 'pg_hba.conf'), 'host replication replicator 127.0.0.1/32 trust\n');
  }
  await startNode(primary);
  for (const standby of standbys) await startStandby(cluster, primary, standby);
  return cluster;
}

/** Makes `standby` (first time: pg_basebackup -R from `primary`) and starts it. */
async function startStandby(cluster: LocalCluster, primary: ClusterNode, standby: ClusterNode): Promise<void> {
  if (!fs.existsSync(path.join(standby.dataDir, 'PG_VERSION'))) {
    await withClient(primary.url, async (c) => {
      const exists = await c.query("SELECT 1 FROM pg_roles WHERE rolname = 'replicator'");
      if (exists.rowCount === 0) await c.query('CREATE ROLE replicator WITH REPLICATION LOGIN');
    });
    await pgTool('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'replicator', '-D', standby.dataDir, '-R', '-X', 'stream', '-c', 'fast']);
    // The copy carries node1's settings; later lines win.
    fs.appendFileSync(path.join(standby.dataDir, 'postgresql.conf'), nodeSettings(standby, cluster.dir));
  }
  await startNode(standby);
}

export async function clusterDown(dir: string, basePort: number): Promise<void> {
  const cluster = describeCluster(dir, basePort);
  for (const node of [...cluster.nodes].reverse()) {
    if (await isRunning(node)) await pgTool('pg_ctl', ['-D', node.dataDir, '-m', 'fast', '-w', 'stop']);
  }
}

/** Stops one node; `immediate` is a crash as far as PostgreSQL is concerned (no checkpoint). */
export async function stopNode(dir: string, basePort: number, name: string, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
  const node = nodeNamed(dir, basePort, name);
  if (await isRunning(node)) await pgTool('pg_ctl', ['-D', node.dataDir, '-m', mode, '-w', 'stop']);
}

export async function startNodeNamed(dir: string, basePort: number, name: string): Promise<void> {
  await startNode(nodeNamed(dir, basePort, name));
}

function nodeNamed(dir: string, basePort: number, name: string): ClusterNode {
  const node = describeCluster(dir, basePort).nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name} in the local cluster`);
  return node;
}

export async function clusterStatus(dir: string, basePort: number): Promise<NodeStatus[]> {
  const cluster = describeCluster(dir, basePort);
  return Promise.all(
    cluster.nodes.map(async (node) => {
      const running = await isRunning(node);
      if (!running) return { ...node, running, inRecovery: null, replayLagBytes: null };
      return withClient(node.url, async (c) => {
        const { rows } = await c.query(
          `SELECT pg_is_in_recovery() AS in_recovery,
                  CASE WHEN pg_is_in_recovery()
                       THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint
                       ELSE 0 END AS lag`,
        );
        return { ...node, running, inRecovery: rows[0].in_recovery as boolean, replayLagBytes: Number(rows[0].lag ?? 0) };
      }).catch(() => ({ ...node, running, inRecovery: null, replayLagBytes: null }));
    }),
  );
}

/**
 * The YAML a user passes with --config to run crawl/web/worker/ha against the cluster: both
 * nodes, so the health checks find the primary and fail over.
 */
export function clusterConfigYaml(cluster: LocalCluster, database = 'image_crawler'): string {
  const [primary, ...standbys] = cluster.nodes;
  const url = (n: ClusterNode) => `postgres://postgres@127.0.0.1:${n.port}/${database}`;
  const line = (n: ClusterNode, priority: number) => `    - { name: ${n.name}, url: "${url(n)}", priority: ${priority}, data_dir: "${n.dataDir}" }`;
  return [
    `# Written by \`image-crawler cluster up --dir ${cluster.dir}\`.`,
    `# ${primary.name} started as primary on 127.0.0.1:${primary.port}; ${standbys.map((s) => `${s.name} on 127.0.0.1:${s.port}`).join(', ')} as its streaming standbys.`,
    'database:',
    `  url: ${url(primary)}`,
    '  nodes:',
    ...cluster.nodes.map((n, i) => line(n, 100 - 10 * i)),
    'backup:',
    `  socket_dir: "${cluster.dir}"     # where pgBackRest finds the nodes' sockets`,
    '',
  ].join('\n');
}

/**
 * Turns a former primary into a streaming standby of `primaryName`: stop it, pg_rewind it onto
 * the new primary's timeline (wal_log_hints makes that possible), write the standby settings
 * (-R) and start it.
 */
export async function rejoinNode(dir: string, basePort: number, name: string, primaryName: string): Promise<void> {
  const node = nodeNamed(dir, basePort, name);
  const primary = nodeNamed(dir, basePort, primaryName);
  if (node.name === primary.name) throw new Error(`${name} cannot rejoin itself`);
  await rewindAsStandby(node.dataDir, primary.url);
}

/**
 * A new streaming standby of the primary at `primaryUrl` in `dataDir` (empty or absent), for
 * any node on this host: pg_basebackup with the primary's settings and WAL, a physical
 * replication slot named after the node (so the primary keeps the WAL it has not received; a
 * stale slot of an earlier life of the node is dropped first), standby settings (-R), its own
 * port and name; started. Used by `ha add-node` and `ha reinit`.
 */
export async function baseBackupAsStandby(dataDir: string, primaryUrl: string, node: { name: string; port: number }, replicationUser = 'replicator'): Promise<void> {
  const dir = path.resolve(dataDir);
  if (fs.existsSync(path.join(dir, 'PG_VERSION'))) throw new Error(`${dir} already holds a database`);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const slot = slotName(node.name);
  await withClient(primaryUrl, async (c) => {
    await c.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]);
  });
  const u = new URL(primaryUrl);
  await pgTool('pg_basebackup', ['-h', u.hostname, '-p', u.port || '5432', '-U', replicationUser, '-D', dir, '-R', '-X', 'stream', '-c', 'fast', '-C', '-S', slot]);
  // Later lines win: the copy carries the primary's port and name.
  fs.appendFileSync(path.join(dir, 'postgresql.conf'), `\n# image-crawler standby ${node.name}\nport = ${node.port}\ncluster_name = '${node.name}'\n`);
  await startNode({ name: node.name, port: node.port, dataDir: dir, url: '' });
}

/** A node's replication slot: its name in the characters slots allow. */
export function slotName(node: string): string {
  return node.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/** Stops a node on this host if it runs (a crash stop: its data is about to be thrown away or rewound). */
export async function stopDataDir(dataDir: string): Promise<void> {
  const node = { name: path.basename(dataDir), port: 0, dataDir, url: '' };
  if (await isRunning(node)) await pgTool('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
}

/**
 * The rejoin itself, for any node on this host: stop it, pg_rewind its data directory onto the
 * primary at `sourceUrl` (a superuser connection), write standby.signal and primary_conninfo
 * (-R), start it.
 */
export async function rewindAsStandby(dataDir: string, sourceUrl: string): Promise<void> {
  const node = { name: path.basename(dataDir), port: 0, dataDir, url: '' };
  // pg_rewind reads the source's timeline from its control file, which only a checkpoint
  // updates: right after a promotion it still names the old timeline, and the rewind would pick
  // a far too early common point ("requested timeline N does not contain minimum recovery point").
  await withClient(sourceUrl, (c) => c.query('CHECKPOINT'));
  if (await isRunning(node)) await pgTool('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
  // pg_rewind copies the source's configuration files too; this node's own (port, cluster_name) stay.
  const ownConfig = path.join(dataDir, 'postgresql.conf');
  const saved = fs.readFileSync(ownConfig);
  // So is the source's postgresql.auto.conf, whose replication slot (if any) is the source's own.
  const autoConf = path.join(dataDir, 'postgresql.auto.conf');
  const ownSlot = settingIn(autoConf, 'primary_slot_name');
  if (ownSlot) await withClient(sourceUrl, (c) => c.query('SELECT pg_create_physical_replication_slot($1) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)', [ownSlot]));
  await pgTool('pg_rewind', ['--target-pgdata', dataDir, '--source-server', conninfoFromUrl(sourceUrl), '-R']);
  fs.writeFileSync(ownConfig, saved);
  const lines = fs.readFileSync(autoConf, 'utf8').split('\n').filter((l) => !/^\s*primary_slot_name\s*=/.test(l));
  if (ownSlot) lines.push(`primary_slot_name = '${ownSlot}'`, '');
  fs.writeFileSync(autoConf, lines.join('\n'));
  await startNode(node);
}

/** The last value a configuration file gives `name` (later lines win), or null. */
function settingIn(file: string, name: string): string | null {
  if (!fs.existsSync(file)) return null;
  const found = [...fs.readFileSync(file, 'utf8').matchAll(new RegExp(`^\\s*${name}\\s*=\\s*'?([^'\\n]*)'?`, 'gm'))];
  return found.length > 0 && found[found.length - 1][1] !== '' ? found[found.length - 1][1] : null;
}

/** libpq key=value connection string from a postgres:// URL (for pg_rewind's --source-server). */
export function conninfoFromUrl(url: string): string {
  const u = new URL(url);
  const parts = [`host=${u.hostname}`, `port=${u.port || 5432}`, `user=${decodeURIComponent(u.username || 'postgres')}`, 'dbname=postgres'];
  if (u.password) parts.push(`password=${decodeURIComponent(u.password)}`);
  return parts.join(' ');
}

function nodeSettings(node: ClusterNode, socketDir: string): string {
  return [
    '',
    `# image-crawler local cluster: ${node.name}`,
    `port = ${node.port}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${socketDir}'`,
    `cluster_name = '${node.name}'`,
    'wal_level = replica',
    'max_wal_senders = 10',
    'max_replication_slots = 10',
    'wal_log_hints = on',
    'hot_standby = on',
    "wal_keep_size = '256MB'",
    // WAL archiving is on from the start (changing archive_mode needs a restart); `backup setup`
    // points archive_command at pgBackRest, until then segments are simply let go.
    'archive_mode = on',
    "archive_command = '/bin/true'",
    '',
  ].join('\n');
}

async function startNode(node: ClusterNode): Promise<void> {
  if (await isRunning(node)) return;
  const logFile = `${node.dataDir}.log`;
  await pgTool('pg_ctl', ['-D', node.dataDir, '-l', logFile, '-w', '-t', '60', 'start']).catch((err: Error) => {
    const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-6).join('\n') : '';
    throw new Error(`${err.message}\n${tail}`);
  });
}

async function isRunning(node: ClusterNode): Promise<boolean> {
  if (!fs.existsSync(path.join(node.dataDir, 'PG_VERSION'))) return false;
  return pgTool('pg_ctl', ['-D', node.dataDir, 'status']).then(
    () => true,
    () => false,
  );
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Runs a PostgreSQL tool, as the postgres user when we are root. */
function pgTool(tool: string, args: string[]): Promise<string> {
  return runTool(path.join(pgBinDir(), tool), args, { asPostgres: true }).catch((err: Error) => {
    throw new Error(`${tool} ${args.join(' ')} failed: ${err instanceof ToolError ? err.stderr.trim() : err.message}`);
  });
}
