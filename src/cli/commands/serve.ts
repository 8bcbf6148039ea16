import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http, { type Server } from 'node:http';
import https from 'node:https';
import type { Express } from 'express';
import { createApp } from '../../api/app';
import { acceptUpgrades } from '../../api/event-socket';
import { createMetricsApp } from '../../api/metrics-routes';
import { credentialsFor } from '../../api/auth';
import { createHaApp } from '../../api/ha-routes';
import type { AppConfig } from '../../config/config-schema';
import { loadConfig } from '../../config/load-config';
import { NodeKeeper } from '../../ha/node-keeper';
import { ConfigError } from '../../errors';
import { getLogger } from '../../logger';
import { Runtime, prepareDatabase } from '../../runtime';
import { startWorkers } from '../../workers/start-workers';
import { intOption, parse, workerConcurrency } from '../args';

const log = getLogger('cli');

export const WEB_HELP = `image-crawler web [--port N] [--host H] [--config FILE]

Runs the web console (/), the main API (default 127.0.0.1:8000) and Bull Board (/admin/queues)
until SIGINT/SIGTERM.
Jobs it queues need a running \`image-crawler worker\`.`;

export const HA_API_HELP = `image-crawler ha-api [--port N] [--host H] [--config FILE]

Runs the HA API (default port 8001): /api/health, /api/status, /api/sync-status, /api/failover;
and keeps this host's database nodes (those with a data_dir here): a standby whose timeline
forked off the new primary's at a failover is rewound onto it (pg_rewind) and streams again.`;

export const WORKER_HELP = `image-crawler worker [--concurrency N] [--metrics-port N] [--config FILE]

Runs crawl and download consumers (and this process's share of the health checks and file sync)
until SIGINT/SIGTERM, then finishes the running jobs. --metrics-port serves Prometheus metrics at
http://<api.host>:N/metrics (the API token required).`;

export const MIGRATE_HELP = `image-crawler migrate [--config FILE]

Creates the database if it is missing and applies the migrations.`;

/** `image-crawler web`: the main API and Bull Board. */
export function webCommand(argv: string[]): Promise<number> {
  return serveApi(argv, 'port', createApp, 'Console on http://{addr}/ (sign in with the API token), API on http://{addr}/api, Bull Board on http://{addr}/admin/queues', WEB_HELP);
}

/** `image-crawler ha-api`: the HA API server (default port 8001). */
export function haApiCommand(argv: string[]): Promise<number> {
  const keep = (rt: Runtime) => {
    const keeper = new NodeKeeper(rt.config, rt.redis);
    keeper.start();
    return () => keeper.stop();
  };
  return serveApi(argv, 'ha_port', createHaApp, 'HA API on http://{addr}/api/status', HA_API_HELP, keep);
}

/** Serves `build`'s app until a signal; `alongside` starts what else the process runs and returns its stop. */
async function serveApi(
  argv: string[],
  portKey: 'port' | 'ha_port',
  build: (rt: Runtime, token: string) => Express,
  banner: string,
  help: string,
  alongside?: (rt: Runtime) => () => Promise<void>,
): Promise<number> {
  const { values } = parse(argv, { port: { type: 'string' }, host: { type: 'string' } });
  if (values.help) return printHelp(help);
  const port = intOption(values.port, 'port', 0);
  const config = loadConfig({ file: values.config, overrides: { api: { ...(port !== undefined ? { [portKey]: port } : {}), ...(values.host ? { host: values.host } : {}) } } });
  const token = apiToken(config);
  const rt = await Runtime.create(config);
  const app = build(rt, token);
  const server = await listen(app, config.api[portKey], config.api.host, banner, config.api.tls).catch(async (err) => {
    await rt.close();
    throw err;
  });
  acceptUpgrades(server, app); // live events over WebSocket (GET /api/events)
  const stopAlongside = alongside?.(rt);
  await untilSignal();
  await stopAlongside?.();
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeAllConnections(); // event streams and keep-alive sockets would hold the close open
  await closed;
  await rt.close();
  return 0;
}

/** The configured API token, or a development token for this run, printed. */
function apiToken(config: AppConfig): string {
  if (config.api.token) return config.api.token;
  const token = randomBytes(24).toString('base64url');
  process.stderr.write(`No api.token / API_TOKEN configured; this run's development token is:\n  ${token}\n`);
  return token;
}

/**
 * Listens (HTTPS with api.tls), or says why not (a taken port is a configuration mistake: exit
 * 78, not a banner with "null").
 */
async function listen(app: Express, port: number, host: string, banner: string, tls?: { cert: string; key: string }): Promise<Server> {
  const server = tls ? https.createServer({ cert: readPem(tls.cert, 'api.tls.cert'), key: readPem(tls.key, 'api.tls.key') }, app) : http.createServer(app);
  banner = tls ? banner.replace(/http:\/\//g, 'https://') : banner;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the port is taken by another process' : err.code === 'EACCES' ? 'permission denied' : err.message;
      reject(new ConfigError(`cannot listen on ${host}:${port}: ${why} (--port, api.port / api.ha_port, --metrics-port)`));
    });
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : String(addr);
  log.info('listening', { address: bound });
  process.stderr.write(`${banner.replace(/\{addr\}/g, bound)}\n`);
  return server;
}

/** `image-crawler worker`: crawl and download consumers until SIGTERM/SIGINT, then a graceful drain. */
export async function workerCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { concurrency: { type: 'string' }, 'metrics-port': { type: 'string' } });
  if (values.help) return printHelp(WORKER_HELP);
  const concurrency = intOption(values.concurrency, 'concurrency', 1);
  const metricsPort = intOption(values['metrics-port'], 'metrics-port', 0);
  const config = loadConfig({ file: values.config });
  const token = metricsPort !== undefined ? apiToken(config) : '';
  const rt = await Runtime.create(config);
  const metrics =
    metricsPort === undefined
      ? null
      : await listen(createMetricsApp(rt.metrics, credentialsFor(token, config.api)), metricsPort, config.api.host, 'metrics on http://{addr}/metrics', config.api.tls).catch(async (err) => {
          await rt.close();
          throw err;
        });
  const workers = await startWorkers(rt, concurrency ? workerConcurrency(concurrency) : {});
  log.info('worker started', { pid: process.pid });
  await untilSignal();
  log.info('worker stopping: finishing running jobs');
  await new Promise((resolve) => (metrics ? metrics.close(resolve) : resolve(undefined)));
  await workers.close();
  await rt.close();
  return 0;
}

/** `image-crawler migrate`: create the database if needed and apply migrations. */
export async function migrateCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {});
  if (values.help) return printHelp(MIGRATE_HELP);
  const applied = await prepareDatabase(loadConfig({ file: values.config }));
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date');
  return 0;
}

/** `--help` prints help and starts nothing (a worker started by `--help` once took a crawl's jobs). */
function printHelp(text: string): number {
  console.log(text);
  return 0;
}

export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

function readPem(file: string, key: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${file}: ${(err as Error).message}`);
  }
}
