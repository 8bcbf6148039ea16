import { Redis } from 'ioredis';
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
import { getLogger, setLogLevel } from './logger';
import { FrontierRepository } from './db/frontier-repository';
import { SessionCounters } from './queues/session-counters';
import { CrawlQueues } from './queues/queues';
import { SessionService } from './sessions/session-service';
import { ContentStore } from './storage/content-store';
import { StoreWriter } from './storage/store-writer';
import { FileSync } from './sync/file-sync';
import { InfraGate } from './workers/infra-gate';

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
  readonly store: ContentStore;
  /** Downloaded images go to the store through this (hashing and writing off the event loop). */
  readonly storeWriter: StoreWriter;
  /** Holds this process's crawl and download jobs while the database, Redis or the store fail. */
  readonly infraGate = new InfraGate();
  /** Copies of image files to the other hosts. */
  readonly fileSync: FileSync;
  readonly http: HttpClient;
  readonly robots: RobotsCache;
  readonly throttle: HostThrottle;

  private constructor(readonly config: AppConfig) {
    setLogLevel(config.log_level);
    const c = config.crawler;
    this.router = new DatabaseRouter(config);
    this.router.onPrimaryChange(() => this.infraGate.retryNow()); // jobs held while the primary was gone go now
    this.knex = this.router.knex;
    // BullMQ needs maxRetriesPerRequest null: commands wait through a Redis restart instead of failing.
    this.redis = new Redis(config.redis.url, { maxRetriesPerRequest: null, lazyConnect: false });
    this.redis.on('error', (err) => log.warn('redis connection error', { error: err.message }));
    const prefix = config.redis.prefix;
    this.queues = new CrawlQueues(this.redis, { prefix, attempts: config.worker.attempts });
    this.frontier = new FrontierRepository(this.knex);
    this.counters = new SessionCounters(this.redis, prefix);
    this.images = new ImageRepository(this.knex, this.router.reader);
    this.pages = new PageRepository(this.knex);
    this.sessionRepo = new SessionRepository(this.knex);
    this.sessions = new SessionService(this.knex, this.sessionRepo, this.frontier, this.counters, this.queues, c);
    this.store = new ContentStore(config.storage.data_dir, config.storage.fsync);
    this.storeWriter = new StoreWriter(config.storage.data_dir, config.storage.fsync);
    this.fileSync = new FileSync(config, this.redis, this.store, this.knex);
    this.http = new HttpClient({
      userAgent: c.user_agent,
      requestTimeoutMs: c.request_timeout_ms,
      connectTimeoutMs: c.connect_timeout_ms,
      maxRedirects: c.max_redirects,
      netPolicy: new NetPolicy({ allowPrivate: c.allow_private, allowNets: c.allow_nets }),
    });
    this.robots = new RobotsCache(this.redis, prefix, this.http, c.user_agent, c.robots_cache_ttl_s);
    this.throttle = new HostThrottle(this.redis, prefix, c.per_host_concurrency);
  }

  /** Builds the runtime; creates the database and applies migrations first when asked. */
  static async create(config: AppConfig, opts: { migrate?: boolean } = {}): Promise<Runtime> {
    const rt = new Runtime(config);
    try {
      await rt.router.follow(rt.redis);
      if (opts.migrate ?? true) await prepareDatabase(config, rt.router.primary);
    } catch (err) {
      await rt.close();
      throw err;
    }
    return rt;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.images.drain(), this.pages.drain()]);
    await this.fileSync.close();
    await this.queues.close();
    await this.storeWriter.close();
    this.http.close();
    await this.router.close();
    this.redis.disconnect();
  }
}

/** Creates the database if missing and brings the schema up to date (safe to race). */
export async function prepareDatabase(config: AppConfig, primary?: string): Promise<string[]> {
  const url = config.database.nodes.find((n) => n.name === primary)?.url ?? config.database.url;
  if (config.database.create_if_missing) await ensureDatabase(url);
  const knex = createKnex({ url, poolSize: 1, connectionTimeoutS: config.database.connection_timeout_s });
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
