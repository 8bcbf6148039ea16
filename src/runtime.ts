import { Metrics } from './metrics/metrics';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { AppConfig } from './config/config-schema';
import { NetPolicy } from './crawler/net-policy';
import { createKnex, ensureDatabase, migrateLatest } from './db/database';
import { DatabaseRouter } from './db/database-router';
import { ImageRepository } from './db/image-repository';
import { PageRepository } from './db/page-repository';
import { SessionRepository } from './db/session-repository';
import { HostThrottle } from './http/host-throttle';
import { HttpClient } from './http/http-client';
import { RobotsCache } from './http/robots-cache';
import { ServiceUnavailableError } from './errors';
import { maskPassword } from './ha/ha-status';
import { getLogger, logToFiles, setLogLevel } from './logger';
import { FrontierRepository } from './db/frontier-repository';
import { SessionCounters } from './queues/session-counters';
import { createRedis, describeRedis } from './queues/redis-connection';
import { CrawlQueues } from './queues/queues';
import { SessionService } from './sessions/session-service';
import type { ImageStore, ImageWriter } from './storage/image-store';
import { openImageStore } from './storage/open-store';
import { FileSync } from './sync/file-sync';
import { InfraGate } from './workers/infra-gate';
import { loadPlugins } from './plugins/load-plugins';
import { PluginHost } from './plugins/plugin-host';

const log = getLogger('runtime');

/**
 * Everything a process needs, built once from the configuration: database, Redis, queues,
 * session state, storage and the HTTP client. API, workers and CLI take what they use.
 */
export class Runtime {
  /** Always the current primary (see DatabaseRouter). */
  readonly knex: Knex;
  readonly router: DatabaseRouter;
  readonly redis: Redis;
  readonly queues: CrawlQueues;
  readonly frontier: FrontierRepository;
  readonly counters: SessionCounters;
  readonly images: ImageRepository;
  readonly pages: PageRepository;
  readonly sessionRepo: SessionRepository;
  readonly sessions: SessionService;
  /** The image files: a local directory or an S3 bucket (storage.backend). */
  readonly store: ImageStore;
  /** Downloaded images go to the store through this (locally: hashing and writing off the event loop). */
  readonly storeWriter: ImageWriter;
  /** Holds this process's crawl and download jobs while the database, Redis or the store fail. */
  readonly infraGate = new InfraGate();
  /** Copies of image files to the other hosts. */
  readonly fileSync: FileSync;
  readonly metrics: Metrics;
  readonly http: HttpClient;
  readonly robots: RobotsCache;
  readonly throttle: HostThrottle;
  private constructor(
    readonly config: AppConfig,
    /** The plugins of `config`. */
    readonly plugins: PluginHost,
  ) {
    setLogLevel(config.log_level);
    logToFiles(config.logging.dir, config.logging.max_size_mb, config.logging.max_files);
    // First: a store the configuration cannot have throws before any connection is opened.
    ({ store: this.store, writer: this.storeWriter } = openImageStore(config, plugins));
    const c = config.crawler;
    this.router = new DatabaseRouter(config);
    this.router.onPrimaryChange(() => this.infraGate.retryNow()); // jobs held while the primary was gone go now
    this.knex = this.router.knex;
    // BullMQ needs maxRetriesPerRequest null: commands wait through a Redis restart instead of failing.
    this.redis = createRedis(config.redis, { maxRetriesPerRequest: null, lazyConnect: false });
    this.watchRedis();
    const prefix = config.redis.prefix;
    this.queues = new CrawlQueues({ redis: this.redis, config });
    this.frontier = new FrontierRepository(this.knex);
    this.counters = new SessionCounters(this.redis, prefix, (delta) => this.metrics.countStats(delta));
    this.images = new ImageRepository(this.knex, this.router.reader);
    this.pages = new PageRepository(this.knex);
    this.sessionRepo = new SessionRepository(this.knex);
    this.sessions = new SessionService(this.knex, this.sessionRepo, this.frontier, this.counters, this.queues, c);
    this.fileSync = new FileSync(config, this.redis, this.store, this.knex);
    this.metrics = new Metrics(this);
    this.http = new HttpClient({
      timeFetch: (kind) => this.metrics.timeFetch(kind),
      // Only a name that answered differently to the render plugin's check gets here (rebinding).
      onProxyRefused: (message) => log.warn('browser request refused by the network policy', { error: message }),
      userAgent: c.user_agent,
      requestTimeoutMs: c.request_timeout_ms,
      connectTimeoutMs: c.connect_timeout_ms,
      maxRedirects: c.max_redirects,
      netPolicy: new NetPolicy({ allowPrivate: c.allow_private, allowNets: c.allow_nets }),
    });
    this.robots = new RobotsCache(this.redis, prefix, this.http, c.user_agent, c.robots_cache_ttl_s);
    this.throttle = new HostThrottle(this.redis, prefix, c.per_host_concurrency);
  }

  /** Last connection error of Redis, for the start-up message. */
  private redisError = '';

  /**
   * One log line when the connection to Redis is lost and one when it is back, not one per
   * reconnection attempt (ioredis retries every few hundred ms: a flood otherwise).
   */
  private watchRedis(): void {
    let up = false;
    this.redis.on('ready', () => {
      if (this.redisError) log.info('redis connection restored');
      up = true;
      this.redisError = '';
    });
    this.redis.on('error', (err) => {
      if (up) log.warn('redis connection lost; retrying', { error: err.message });
      up = false;
      this.redisError = err.message || (err as { code?: string }).code || String(err);
    });
  }

  /**
   * Builds the runtime; creates the database and applies migrations first when asked. Redis or
   * PostgreSQL unreachable → ServiceUnavailableError within START_TIMEOUT_MS, naming which and where.
   */
  static async create(config: AppConfig, opts: { migrate?: boolean } = {}): Promise<Runtime> {
    let metrics: Metrics | undefined;
    // Before the runtime: a plugin may offer the image store it is built with.
    const plugins = await loadPlugins(config, (plugin, hook) => metrics?.countPluginError(plugin, hook));
    let rt: Runtime;
    try {
      rt = new Runtime(config, plugins);
    } catch (err) {
      await plugins.close();
      throw err;
    }
    metrics = rt.metrics;
    try {
      await rt.redisReady();
      await rt.router.follow(rt.redis);
      if (opts.migrate ?? true) await prepareDatabase(config, rt.router.primary);
    } catch (err) {
      await rt.close();
      throw unreachable(err, config, rt.router.primary);
    }
    return rt;
  }

  private async redisReady(): Promise<void> {
    if (this.redis.status === 'ready') return;
    let onReady = () => undefined as void;
    const ready = new Promise<boolean>((resolve) => {
      onReady = () => resolve(true);
      this.redis.once('ready', onReady);
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), START_TIMEOUT_MS)));
    const ok = await Promise.race([ready, late]);
    clearTimeout(timer);
    this.redis.off('ready', onReady);
    if (!ok) throw new ServiceUnavailableError('Redis', describeRedis(this.config.redis), this.redisError || `no answer within ${START_TIMEOUT_MS / 1000} s`);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.images.drain(), this.pages.drain()]);
    await this.fileSync.close();
    await this.queues.close();
    await this.storeWriter.close();
    this.store.close?.();
    await this.plugins.close();
    this.http.close();
    await this.router.close();
    this.redis.disconnect();
  }
}

/** How long a process waits for Redis and PostgreSQL at start before it says which is unreachable. */
const START_TIMEOUT_MS = 10_000;

/** Connection failures at start, named; anything else as it was. */
function unreachable(err: unknown, config: AppConfig, primary: string | undefined): unknown {
  if (err instanceof ServiceUnavailableError) return err;
  const code = (err as { code?: string }).code ?? '';
  const connectionFailure = /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ECONNRESET|28P01|28000|3D000)$/.test(code) || /timeout|terminated/i.test((err as Error).message ?? '');
  if (!connectionFailure) return err;
  const url = config.database.nodes.find((n) => n.name === primary)?.url ?? config.database.url;
  return new ServiceUnavailableError('PostgreSQL', maskPassword(url), (err as Error).message || code);
}

/** Creates the database if missing and brings the schema up to date (safe to race). */
export async function prepareDatabase(config: AppConfig, primary?: string): Promise<string[]> {
  const url = config.database.nodes.find((n) => n.name === primary)?.url ?? config.database.url;
  if (config.database.create_if_missing) await ensureDatabase(url, START_TIMEOUT_MS);
  const knex = createKnex({ url, poolSize: 1, connectionTimeoutS: Math.min(config.database.connection_timeout_s, START_TIMEOUT_MS / 1000) });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await migrateLatest(knex);
      } catch (err) {
        // Another process holds the migration lock: wait for it rather than fail.
        if ((err as Error).name !== 'MigrationLocked' || attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    await knex.destroy();
  }
}
