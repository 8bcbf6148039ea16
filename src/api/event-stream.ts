import type { Request, Response } from 'express';
import { ClusterState } from '../ha/cluster-state';
import { getLogger } from '../logger';
import type { Runtime } from '../runtime';
import type { SessionView } from '../sessions/session-service';

const log = getLogger('api');

/** Heartbeat comment: keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

/**
 * Live events for the console, as server-sent events (`GET /api/events`): `progress` with a
 * session's view when it changed (at most once per interval per session), `cluster` when the
 * term or primary changed. One poll per process, however many browsers listen — and none while
 * nobody does: clients never poll.
 */
export class EventStream {
  private readonly clients = new Set<Response>();
  private readonly lastSent = new Map<string, string>();
  /** How recently ended sessions were last sent (a changed row is looked at for two ticks). */
  private readonly lastEnded = new Map<string, string>();
  private lastCluster = '';
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private ticking = false;
  private lastTickAt = Date.now();

  constructor(private readonly rt: Pick<Runtime, 'sessions' | 'sessionRepo' | 'redis' | 'config'>, private readonly intervalMs = 1000) {}

  attach(_req: Request, res: Response): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 3000\n\n');
    this.clients.add(res);
    // (The response's close, not the request's: a GET's request is done as soon as it is read.)
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stop();
    });
    // A newcomer gets the current state of what is running at once.
    for (const json of this.lastSent.values()) res.write(`event: progress\ndata: ${json}\n\n`);
    if (this.lastCluster) res.write(`event: cluster\ndata: ${this.lastCluster}\n\n`);
    this.start();
  }

  close(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.stop();
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.heartbeat = setInterval(() => this.broadcastRaw(': ping\n\n'), HEARTBEAT_MS);
    void this.tick();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = this.heartbeat = null;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return; // a slow database: skip a beat rather than pile up reads
    this.ticking = true;
    try {
      // What runs, and what started or ended since the last look (a short crawl may do both
      // between two ticks); sessions sent while running are looked at once more.
      const since = new Date(this.lastTickAt - 5000); // (a margin for the database's clock)
      this.lastTickAt = Date.now();
      const changed = await this.rt.sessionRepo.activeOrChangedSince(since);
      const ids = new Set([...changed, ...this.lastSent.keys()]);
      for (const id of ids) {
        const view = await this.rt.sessions.view(id);
        if (!view) continue;
        const json = JSON.stringify(view);
        if (this.lastSent.get(id) !== json && this.lastEnded.get(id) !== json) this.broadcast('progress', json);
        if (!isActive(view)) this.lastEnded.set(id, json);
        if (isActive(view)) this.lastSent.set(id, json);
        else this.lastSent.delete(id);
      }
      if (this.rt.config.database.nodes.length > 0) {
        const record = JSON.stringify(await new ClusterState(this.rt.redis, this.rt.config.redis.prefix).record());
        if (record !== this.lastCluster) this.broadcast('cluster', record);
        this.lastCluster = record;
      }
      if (this.lastEnded.size > 100) this.lastEnded.clear();
    } catch (err) {
      log.debug('event stream tick failed', { error: (err as Error).message });
    } finally {
      this.ticking = false;
    }
  }

  private broadcast(event: string, json: string): void {
    this.broadcastRaw(`event: ${event}\ndata: ${json}\n\n`);
  }

  private broadcastRaw(text: string): void {
    for (const res of this.clients) res.write(text);
  }
}

function isActive(v: SessionView): boolean {
  return v.status === 'running' || v.status === 'stopping';
}
