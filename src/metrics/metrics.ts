import fsp from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Runtime } from '../runtime';
import type { StatsDelta } from '../queues/session-counters';
import { lastGoodBackups } from '../backup/backup-service';
import { ClusterState } from '../ha/cluster-state';
import { getLogger } from '../logger';

const log = getLogger('metrics');

/**
 * Prometheus metrics of this process (`GET /metrics` on `web`, `worker --metrics-port N`).
 *
 * Two kinds. What this process did — pages and images by outcome, bytes, retries, how long each
 * fetch took — are counters it increments as the work happens (sum them over every process in
 * Prometheus). What the cluster is — queue depths, the HA term, which database node is up in
 * which role, replication lag, failovers, the last consistency check, the copy backlog to each
 * peer, the store's size and free disk — is read from Redis and PostgreSQL when scraped, so any
 * process answers for the whole cluster. One `Metrics` per runtime, with its own registry.
 */
export type FetchKind = 'page' | 'stylesheet' | 'image' | 'robots' | 'other';

/** Summing every stored file is a scan: done at most once a minute. */
const STORE_BYTES_TTL_MS = 60_000;

/** What the scraped gauges read: the runtime's queues, Redis, database and store. */
type Source = Pick<Runtime, 'queues' | 'fileSync' | 'redis' | 'knex' | 'config'>;

export class Metrics {
  readonly registry = new Registry();
  private readonly pages: Counter;
  private readonly images: Counter;
  private readonly bytes: Counter;
  private readonly retries: Counter;
  private readonly errors: Counter;
  private readonly fetchSeconds: Histogram;
  private readonly pluginErrors: Counter;
  private storeBytes: { at: number; value: number } | null = null;

  constructor(private readonly source: Source) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'image_crawler_' });
    this.pages = new Counter({ name: 'image_crawler_pages_total', help: 'Pages by outcome (crawled, failed).', labelNames: ['state'], registers });
    this.images = new Counter({
      name: 'image_crawler_images_total',
      help: 'Image URLs by outcome: found (claimed), stored, duplicate (stored, content already there), failed.',
      labelNames: ['state'],
      registers,
    });
    this.bytes = new Counter({ name: 'image_crawler_bytes_downloaded_total', help: 'Bytes of stored images.', registers });
    this.retries = new Counter({ name: 'image_crawler_retries_total', help: 'Fetches scheduled again after a retryable failure.', registers });
    this.errors = new Counter({ name: 'image_crawler_errors_total', help: 'URLs that ended failed.', registers });
    this.fetchSeconds = new Histogram({
      name: 'image_crawler_fetch_duration_seconds',
      help: 'Time of each HTTP fetch, redirects included, by what was fetched and how it ended.',
      labelNames: ['kind', 'outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.pluginErrors = new Counter({ name: 'image_crawler_plugin_errors_total', help: 'Plugin hooks that threw, timed out or returned something malformed (ignored; see the log).', labelNames: ['plugin', 'hook'], registers });
    this.defineScraped();
  }

  countPluginError(plugin: string, hook: string): void {
    this.pluginErrors.inc({ plugin, hook });
  }

  /** Counts the outcomes a job reports (every StatsDelta passes through the session counters). */
  countStats(delta: StatsDelta): void {
    if (delta.pages_crawled) this.pages.inc({ state: 'crawled' }, delta.pages_crawled);
    if (delta.pages_failed) this.pages.inc({ state: 'failed' }, delta.pages_failed);
    if (delta.images_found) this.images.inc({ state: 'found' }, delta.images_found);
    if (delta.images_stored) this.images.inc({ state: 'stored' }, delta.images_stored);
    if (delta.images_duplicate) this.images.inc({ state: 'duplicate' }, delta.images_duplicate);
    if (delta.images_revalidated) this.images.inc({ state: 'revalidated' }, delta.images_revalidated);
    if (delta.images_failed) this.images.inc({ state: 'failed' }, delta.images_failed);
    if (delta.bytes_downloaded) this.bytes.inc(delta.bytes_downloaded);
    if (delta.retries) this.retries.inc(delta.retries);
    if (delta.errors) this.errors.inc(delta.errors);
  }

  /** Times one fetch: call the result with whether it succeeded when it ends. */
  timeFetch(kind: FetchKind): (ok: boolean) => void {
    const end = this.fetchSeconds.startTimer({ kind });
    return (ok) => end({ outcome: ok ? 'ok' : 'error' });
  }

  /** The text exposition format, for a scrape. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** A gauge filled from `read` at scrape time; a failing source leaves it empty (logged at debug). */
  private scraped(name: string, help: string, labelNames: string[], read: (g: Gauge, src: Source) => Promise<unknown>): void {
    const src = this.source;
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        await read(this, src).catch((err: Error) => log.debug('metric not read', { metric: name, error: err.message }));
      },
    });
  }

  private defineScraped(): void {
    this.scraped('image_crawler_queue_jobs', 'BullMQ jobs by queue and state.', ['queue', 'state'], async (g, src) => {
      const queues = [src.queues.crawl, src.queues.download, src.fileSync.queue, src.fileSync.checkQueue];
      const counts = await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized')));
      queues.forEach((q, i) => {
        for (const [state, n] of Object.entries(counts[i])) g.set({ queue: q.name, state }, n);
      });
    });
    this.scraped('image_crawler_sync_backlog', 'Files waiting to be copied to each peer host.', ['peer'], async (g, src) => {
      for (const [peer, q] of src.fileSync.pushQueues) {
        const c = await q.getJobCounts('waiting', 'delayed', 'active');
        g.set({ peer }, c.waiting + c.delayed + c.active);
      }
    });
    this.scraped('image_crawler_ha_term', 'The cluster term (advances with every change of primary).', [], async (g, src) => {
      const view = await clusterView(src);
      if (view) g.set(view.term);
    });
    this.scraped('image_crawler_db_node_up', 'Whether each database node answered its last health check, by role.', ['node', 'role'], async (g, src) => {
      const view = await clusterView(src);
      if (!view) return g.set({ node: 'default', role: 'primary' }, await src.knex.raw('SELECT 1').then(() => 1, () => 0));
      for (const n of view.nodes) {
        const role = n.name === view.primary ? 'primary' : n.inRecovery === false ? 'needs_rejoin' : 'standby';
        g.set({ node: n.name, role }, n.reachable ? 1 : 0);
      }
    });
    this.scraped('image_crawler_replication_lag_bytes', "Each standby's replay lag as the primary last saw it.", ['node'], async (g, src) => {
      const view = await clusterView(src);
      for (const n of view?.nodes ?? []) if (n.name !== view?.primary && n.lagBytes !== null) g.set({ node: n.name }, n.lagBytes);
    });
    this.scraped('image_crawler_failovers_total', 'Changes of primary recorded in the database (failovers and switchovers).', [], async (g, src) => {
      const [row] = await src.knex('failover_events').count<{ n: string }[]>({ n: '*' });
      g.set(Number(row.n));
    });
    this.scraped('image_crawler_consistency_ok', 'Whether the last consistency check found the nodes (and files) in agreement: 1 or 0.', [], async (g, src) => {
      const last = await src.knex('consistency_checks').orderBy('started_at', 'desc').first('ok');
      if (last) g.set(last.ok ? 1 : 0);
    });
    this.scraped('image_crawler_backup_last_good_age_seconds', 'Seconds since the last good backup (full, diff, incr) or verification finished, by kind.', ['kind'], async (g, src) => {
      const rows = await lastGoodBackups(src.knex);
      for (const r of rows) g.set({ kind: r.kind }, (Date.now() - new Date(r.finished_at as Date).getTime()) / 1000);
    });
    this.scraped('image_crawler_backup_last_good_bytes', 'What the last good backup of each kind added to the repositories (database + files), bytes.', ['kind'], async (g, src) => {
      const rows = await lastGoodBackups(src.knex);
      for (const r of rows) if (r.kind !== 'verify') g.set({ kind: r.kind }, (r.repository_bytes ?? 0) + (r.files_added_bytes ?? 0));
    });
    this.scraped('image_crawler_disk_free_ratio', "Free share of the disk holding this host's image store.", [], async (g, src) => {
      const st = await fsp.statfs(src.config.storage.data_dir);
      g.set(st.blocks > 0 ? st.bavail / st.blocks : 0);
    });
    this.scraped('image_crawler_store_bytes', 'Bytes of distinct stored image files (recomputed at most once a minute).', [], async (g, src) => {
      if (!this.storeBytes || Date.now() - this.storeBytes.at > STORE_BYTES_TTL_MS) {
        const { rows } = await src.knex.raw(
          "SELECT coalesce(sum(file_size), 0)::bigint AS bytes FROM (SELECT DISTINCT ON (file_path) file_size FROM images WHERE status = 'stored' AND file_path IS NOT NULL) f",
        );
        this.storeBytes = { at: Date.now(), value: Number(rows[0].bytes) };
      }
      g.set(this.storeBytes.value);
    });
  }
}

/** The cluster state recorded by the health checks (null for a single node). */
async function clusterView(src: Source) {
  if (src.config.database.nodes.length === 0) return null;
  return new ClusterState(src.redis, src.config.redis.prefix).view(src.config.database.nodes);
}
