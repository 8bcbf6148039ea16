import type { Request, Response } from 'express';
import type { WebSocket } from 'ws';
import { subscribeEvents } from '../events/event-bus';
import { ClusterState } from '../ha/cluster-state';
import { getLogger } from '../logger';
import type { Runtime } from '../runtime';
import type { SessionView } from '../sessions/session-service';

const log = getLogger('api');

/** Heartbeat: keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

/** One listener: a server-sent-events response or a WebSocket. */
interface Sink {
  send(event: string, json: string): void;
  ping(): void;
  end(): void;
}

/**
 * Live events (`GET /api/events`, as server-sent events or a WebSocket): `progress` with a
 * session's view when it changed (at most once per interval per session), `cluster` when the
 * term or primary changed — read from shared state by one poll per process, however many clients
 * listen, and none while nobody does — and `alert`, `backup` and `sync` as they happen anywhere
 * in the deployment (Redis pub/sub, see events/event-bus.ts).
 */
export class EventStream {
  private readonly clients = new Set<Sink>();
  private readonly lastSent = new Map<string, string>();
  /** How recently ended sessions were last sent (a changed row is looked at for two ticks). */
  private readonly lastEnded = new Map<string, string>();
  private lastCluster = '';
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private unsubscribe: Promise<(() => Promise<void>) | null> | null = null;
  private ticking = false;
  private lastTickAt = Date.now();

  constructor(private readonly rt: Pick<Runtime, 'sessions' | 'sessionRepo' | 'redis' | 'config'>, private readonly intervalMs = 1000) {}

  /** A server-sent-events client. */
  attach(_req: Request, res: Response): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 3000\n\n');
    const sink: Sink = {
      send: (event, json) => res.write(`event: ${event}\ndata: ${json}\n\n`),
      ping: () => res.write(': ping\n\n'),
      end: () => res.end(),
    };
    // (The response's close, not the request's: a GET's request is done as soon as it is read.)
    res.on('close', () => this.remove(sink));
    this.add(sink);
  }

  /** A WebSocket client: each event a JSON message `{"event", "data"}`. */
  attachSocket(ws: WebSocket): void {
    const sink: Sink = {
      send: (event, json) => ws.send(`{"event":${JSON.stringify(event)},"data":${json}}`),
      ping: () => ws.ping(),
      end: () => ws.close(1001, 'server closing'),
    };
    ws.on('close', () => this.remove(sink));
    ws.on('error', () => this.remove(sink));
    this.add(sink);
  }

  close(): void {
    for (const sink of this.clients) sink.end();
    this.clients.clear();
    this.stop();
  }

  private add(sink: Sink): void {
    this.clients.add(sink);
    // A newcomer gets the current state of what is running at once.
    for (const json of this.lastSent.values()) sink.send('progress', json);
    if (this.lastCluster) sink.send('cluster', this.lastCluster);
    this.start();
  }

  private remove(sink: Sink): void {
    if (!this.clients.delete(sink)) return;
    if (this.clients.size === 0) this.stop();
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.heartbeat = setInterval(() => this.clients.forEach((c) => c.ping()), HEARTBEAT_MS);
    this.unsubscribe = subscribeEvents(this.rt.redis, this.rt.config.redis.prefix, (event) => this.broadcast(event.type, JSON.stringify(event))).catch((err: Error) => {
      log.warn('live events from other processes unavailable', { error: err.message });
      return null;
    });
    void this.tick();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = this.heartbeat = null;
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = null;
    void unsubscribe?.then((stop) => stop?.());
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
    for (const sink of this.clients) sink.send(event, json);
  }
}

function isActive(v: SessionView): boolean {
  return v.status === 'running' || v.status === 'stopping';
}
