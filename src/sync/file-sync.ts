import { publishEvent } from '../events/event-bus';
import fs from 'node:fs';
import { Queue } from 'bullmq';
import { openQueue } from '../queues/queue-registry';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { AppConfig } from '../config/config-schema';
import { hostName, syncToken } from '../config/host-identity';
import { getLogger } from '../logger';
import { CheckJobData, PushFilesJobData, SyncJobData, pushQueueName } from '../queues/job-types';
import { ContentStore, StoredName } from '../storage/content-store';
import type { ImageStore } from '../storage/image-store';
import { HostFileReport, PeerClient, PeerUnreachableError, fileName } from './peer-client';

const log = getLogger('file-sync');

export interface FullSyncResult {
  host: string;
  startedAt: string;
  durationMs: number;
  /** Files this host lacked and fetched from a peer. */
  pulled: number;
  /** Files no reachable host could provide. */
  unavailable: string[];
  peers: { name: string; reachable: boolean; missing: number; pushed: number; error?: string }[];
  ok: boolean;
}

const LAST_FULL_SYNC = 'sync:last-full';

/**
 * Keeps every host's content store holding every file a row references. After a file is
 * stored it is queued for each peer (`realtime`: one job per file; `batched`: one job per
 * `batch_size` files or `sync_interval_s`); jobs of a peer that is down wait in its queue until
 * it answers. A periodic differential full sync (any host may run it) fetches what this host
 * lacks and sends each peer what that peer lacks, so nothing is skipped even when Redis lost
 * the queued copies.
 */
export class FileSync {
  readonly host: string;
  readonly peers: PeerClient[];
  /** Peer name → the queue of copies from this host to it. */
  readonly pushQueues = new Map<string, Queue<PushFilesJobData>>();
  readonly queue: Queue<SyncJobData>;
  readonly checkQueue: Queue<CheckJobData>;
  /** A removal sets a file aside for one database question: one set aside this long was interrupted. */
  setAsideGraceMs = 10 * 60_000;
  private batch: string[] = [];
  private batchTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly redis: Redis,
    private readonly store: ImageStore,
    private readonly knex: Knex,
  ) {
    const s = config.sync;
    this.host = hostName(config);
    // validateConfig made sure peers come with a token.
    const token = syncToken(config) ?? '';
    const ca = s.ca ? fs.readFileSync(s.ca, 'utf8') : undefined;
    this.peers = s.peers.map((p) => new PeerClient(p, token, s.timeout_s * 1000, s.chunk_bytes, ca));
    const ctx = { redis, config };
    for (const p of s.peers) this.pushQueues.set(p.name, openQueue('push', ctx, pushQueueName(this.host, p.name)));
    this.queue = openQueue('sync', ctx);
    this.checkQueue = openQueue('check', ctx);
  }

  get enabled(): boolean {
    return this.peers.length > 0 && this.config.sync.auto_sync_enabled;
  }

  /** Called once a new file is in this host's store: it is queued for every peer. */
  async stored(name: StoredName): Promise<void> {
    if (!this.enabled) return;
    const file = fileName(name);
    if (this.config.sync.mode === 'realtime') {
      await this.enqueue([file], `push-${name.sha256}`);
      return;
    }
    this.batch.push(file);
    if (this.batch.length >= this.config.sync.batch_size) await this.flush();
    else if (!this.batchTimer) {
      this.batchTimer = setTimeout(() => void this.flush().catch((err) => log.error('could not queue a batch of copies', { error: (err as Error).message })), this.config.sync.sync_interval_s * 1000);
      this.batchTimer.unref();
    }
  }

  /** Queues the files batched so far. */
  async flush(): Promise<void> {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    const files = this.batch.splice(0);
    if (files.length > 0) await this.enqueue(files, `batch-${Date.now()}-${files[0].slice(0, 16)}`);
  }

  private async enqueue(files: string[], jobId: string): Promise<void> {
    await Promise.all([...this.pushQueues.values()].map((q) => q.add('push', { files }, { jobId })));
  }

  /**
   * The last row of a file was deleted here: the peers drop their copies too. A peer that
   * cannot be told keeps an orphan, which consistency checks report.
   */
  async removed(name: StoredName): Promise<void> {
    await Promise.all(
      this.peers.map((peer) =>
        peer.remove(name).catch((err) => log.warn('could not remove a file on a peer; it stays there as an orphan', { peer: peer.peer.name, file: fileName(name), error: (err as Error).message })),
      ),
    );
  }

  /** Distinct files the stored rows reference, relative path → size. */
  async referencedFiles(): Promise<Map<string, number>> {
    const rows = await this.knex('images').distinct('file_path', 'file_size').where('status', 'stored').whereNotNull('file_path');
    return new Map(rows.map((r: { file_path: string; file_size: number }) => [r.file_path, Number(r.file_size)]));
  }

  /** Files the rows reference that this host's store lacks, as `<sha256>.<ext>`. */
  async missingHere(): Promise<string[]> {
    const [referenced, present] = await Promise.all([this.referencedFiles(), this.store.inventory()]);
    return [...referenced.keys()].filter((p) => !present.has(p)).map((p) => fileName(ContentStore.nameOf(p)));
  }

  /** Fetches `name` from the first peer that has it; false when none could. */
  async pullFromPeers(name: StoredName): Promise<boolean> {
    for (const peer of this.peers) {
      try {
        if (await peer.pull(this.store, name, this.config.crawler.max_image_bytes)) return true;
      } catch (err) {
        log.warn('could not fetch a file from a peer', { peer: peer.peer.name, file: fileName(name), error: (err as Error).message });
      }
    }
    return false;
  }

  /**
   * The differential full sync: fetch what this host lacks, then send every peer what it
   * reports missing and this host has. Running it on any one host brings every reachable host
   * up to date.
   */
  async fullSync(): Promise<FullSyncResult> {
    const started = Date.now();
    const unavailable: string[] = [];
    let pulled = 0;
    for (const file of await this.missingHere()) {
      if (await this.pullFromPeers(ContentStore.parseName(file))) pulled++;
      else unavailable.push(file);
    }
    const peers: FullSyncResult['peers'] = [];
    for (const peer of this.peers) {
      const entry: FullSyncResult['peers'][number] = { name: peer.peer.name, reachable: true, missing: 0, pushed: 0 };
      peers.push(entry);
      try {
        const missing = await peer.missing();
        entry.missing = missing.length;
        await mapLimit(missing, this.config.sync.concurrency, async (file) => {
          const name = ContentStore.parseName(file);
          if (!(await this.store.has(name.relativePath))) return;
          await peer.push(this.store, name);
          entry.pushed++;
        });
      } catch (err) {
        entry.reachable = !(err instanceof PeerUnreachableError);
        entry.error = (err as Error).message;
      }
    }
    const result: FullSyncResult = {
      host: this.host,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      pulled,
      unavailable,
      peers,
      ok: unavailable.length === 0 && peers.every((p) => !p.error),
    };
    await this.redis.set(`${this.config.redis.prefix}:${LAST_FULL_SYNC}`, JSON.stringify(result));
    const pushed = peers.reduce((n, p) => n + p.pushed, 0);
    await publishEvent(this.redis, this.config.redis.prefix, { type: 'sync', host: result.host, ok: result.ok, pulled, pushed, at: new Date().toISOString() });
    (result.ok ? log.info : log.warn)('full file sync', { ...result, unavailable: unavailable.length });
    return result;
  }

  async lastFullSync(): Promise<FullSyncResult | null> {
    const raw = await this.redis.get(`${this.config.redis.prefix}:${LAST_FULL_SYNC}`);
    return raw ? (JSON.parse(raw) as FullSyncResult) : null;
  }

  /**
   * This host's store against the rows: every referenced file present with the right hash
   * (or size), orphans counted; with `repair`, missing and corrupt files are fetched again from
   * peers.
   */
  async audit(repair: boolean): Promise<HostFileReport> {
    const referenced = await this.referencedFiles();
    // Before the inventory: a file a crash left set aside mid-removal may be one a row needs.
    const setAside = repair && this.store.settleSetAside ? await this.store.settleSetAside(this.setAsideGraceMs, (rel) => referenced.has(rel)) : undefined;
    if (setAside && setAside.restored + setAside.dropped > 0) log.warn('files left set aside by an interrupted removal settled', { ...setAside });
    const present = await this.store.inventory();
    const mode = this.config.sync.verify_file_hashes ? 'hash' : 'size';
    const missing: string[] = [];
    const corrupt: string[] = [];
    await mapLimit([...referenced], 8, async ([rel, size]) => {
      const state = present.has(rel) ? await this.store.check(rel, size, mode) : 'missing';
      if (state === 'missing') missing.push(fileName(ContentStore.nameOf(rel)));
      if (state === 'corrupt') corrupt.push(fileName(ContentStore.nameOf(rel)));
    });
    const orphans = [...present].filter((p) => !referenced.has(p)).length;
    // A transfer nobody resumed for a day will not be: its partial file only takes space.
    const stalePartials = repair ? await this.store.dropStalePartials(24 * 3600 * 1000) : 0;
    const repaired: string[] = [];
    const unrepaired: string[] = [];
    if (repair) {
      for (const file of [...corrupt, ...missing]) {
        const name = ContentStore.parseName(file);
        if (corrupt.includes(file)) await this.store.remove(name.relativePath);
        (await this.pullFromPeers(name) ? repaired : unrepaired).push(file);
      }
    }
    const bad = missing.length + corrupt.length;
    return {
      host: this.host,
      reachable: true,
      expected: referenced.size,
      missing,
      corrupt,
      orphans,
      stalePartials,
      ...(setAside ? { setAside } : {}),
      repaired,
      unrepaired,
      ok: bad === 0 || (repair && unrepaired.length === 0),
    };
  }

  /** Queued copies per peer (waiting, delayed, running, failed). */
  async backlog(): Promise<{ peer: string; waiting: number; active: number; delayed: number; failed: number; paused: number }[]> {
    return Promise.all(
      [...this.pushQueues].map(async ([peer, q]) => {
        const c = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'paused', 'prioritized');
        return { peer, waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0, paused: c.paused ?? 0 };
      }),
    );
  }

  /** Stops (or restarts) every copy, full sync and check, in every process; queued work waits. */
  async setPaused(paused: boolean): Promise<void> {
    const queues = [this.queue, this.checkQueue, ...this.pushQueues.values()];
    await Promise.all(queues.map((q) => (paused ? q.pause() : q.resume())));
    log.warn(paused ? 'sync paused' : 'sync resumed', { host: this.host });
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    await Promise.all([this.queue.close(), this.checkQueue.close(), ...[...this.pushQueues.values()].map((q) => q.close())]);
  }
}

/** Runs `fn` over `items`, at most `limit` at once. */
export async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}
