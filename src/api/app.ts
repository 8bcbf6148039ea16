import fs from 'node:fs';
import path from 'node:path';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { Express } from 'express';
import { syncToken } from '../config/host-identity';
import type { Runtime } from '../runtime';
import { authenticate, credentialsFor, requireToken, unauthorized } from './auth';
import { guardApi, rateLimits } from './access';
import { allowIps, hsts } from './transport-guards';
import { listAudit } from '../audit/audit-log';
import { auditQuery } from './schemas';
import { crawlRoutes } from './crawl-routes';
import { haRoutes } from './ha-routes';
import { errorHandler, notFound, parseOr400 } from './http-errors';
import { imageRoutes } from './image-routes';
import { metricsHandler } from './metrics-routes';
import { openApiDocument } from './openapi';
import { EventStream } from './event-stream';
import { batchHandler } from './batch-route';
import { mountGraphql } from './graphql';
import { eventSockets, takeOverUpgrade } from './event-socket';
import { consoleRoutes } from '../console/console-routes';
import { peerSyncRoutes } from './peer-sync-routes';
import { syncRoutes } from './sync-routes';
import { backupRoutes } from './backup-routes';
import { openBackupQueue } from '../backup/backup-jobs';

/**
 * The main API (SPEC §6), `/metrics`, live events and the web console at `/`. Everything but
 * /api/health, /api/openapi.json and the sign-in page needs the token (a bearer header, or the
 * console's session cookie).
 */
export function createApp(rt: Runtime, token: string): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', rt.config.api.trust_proxy);
  if (rt.config.api.tls) app.use(hsts);
  app.use(express.json({ limit: '1mb' }));

  app.get('/api/health', async (_req, res) => {
    const [database, redis] = await Promise.all([
      rt.knex.raw('SELECT 1').then(() => true, () => false),
      rt.redis.ping().then(() => true, () => false),
    ]);
    res.status(database && redis ? 200 : 503).json({ ok: database && redis, database, redis });
  });

  const document = openApiDocument(packageVersion());
  app.get('/api/openapi.json', (_req, res) => res.json(document));

  // Host to host: the shared sync token, never an API token (none configured: nobody gets in).
  const sync = syncToken(rt.config);
  app.use('/internal/sync', allowIps(rt.config.sync.allow_ips, 'host-to-host sync'), sync ? requireToken(sync) : (_req, res) => unauthorized(res), peerSyncRoutes(rt));
  app.use(allowIps(rt.config.api.allow_ips, 'the API'));

  // Every API route's role, and the audit of what changes, from one table (api/openapi.ts). The
  // console's pages read the API with their session cookie (SameSite=Strict: never sent cross-site).
  const credentials = credentialsFor(token, rt.config.api);
  app.use(['/api', '/metrics', '/graphql'], guardApi(credentials, rt.knex, rateLimits(rt.redis, rt.config.redis.prefix, rt.config.api.rate_limit)));
  app.use('/api/crawl', crawlRoutes(rt));
  app.use('/api/images', imageRoutes(rt));
  app.use('/api', haRoutes(rt));
  app.use('/api', syncRoutes(rt));
  const backupQueue = openBackupQueue(rt);
  app.use('/api', backupRoutes(rt, backupQueue));
  app.get('/api/audit', async (req, res) => {
    const { limit } = parseOr400(auditQuery, req.query, 'query');
    res.json({ entries: await listAudit(rt.knex, limit) });
  });
  app.post('/api/batch', batchHandler(app));
  mountGraphql(app, rt);
  app.get('/metrics', metricsHandler(rt.metrics));
  const events = new EventStream(rt);
  const sockets = eventSockets();
  app.get('/api/events', (req, res) => {
    if (!takeOverUpgrade(sockets, events, req, res)) events.attach(req, res);
  });
  app.use(consoleRoutes(credentials));

  const board = new ExpressAdapter();
  board.setBasePath('/admin/queues');
  const files = rt.fileSync;
  const queues = [rt.queues.crawl, rt.queues.download, files.queue, files.checkQueue, backupQueue, ...files.pushQueues.values()];
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter: board });
  // Bull Board can retry and remove jobs: operators and admins.
  app.use('/admin/queues', authenticate(credentials, { allowCookie: true, role: 'operator' }), board.getRouter());

  app.use(notFound);
  app.use(errorHandler);
  return app;
}

function packageVersion(): string {
  // dist/api/app.js and src/api/app.ts both sit two levels below package.json.
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;
}
