import type { Redis } from 'ioredis';
import { HostBusyError } from '../errors';
import { ScriptedRedis, withScripts } from '../queues/lua-scripts';

/**
 * Politeness per host: at most `perHostConcurrency` requests in flight to one origin from this
 * process, and, when a delay applies (config or robots Crawl-delay), a request schedule shared
 * by every process through Redis. Retry-After from a 429/503 pushes that schedule back for all.
 * Waiting for a host never holds a worker slot for long: see `run`.
 */
const PUSH_BACK_REFRESH_MS = 1000;
/** Longer waits for a host leave the worker slot (HostBusyError); shorter ones are slept in place. */
export const MAX_INLINE_WAIT_MS = 250;

export class HostThrottle {
  private readonly redis: ScriptedRedis;
  private readonly active = new Map<string, number>();
  private readonly waiters = new Map<string, (() => void)[]>();
  /** When each origin's shared push-back was last read, and until when it holds (ms, local clock). */
  private readonly pushBackCache = new Map<string, { readAt: number; until: number }>();

  constructor(redis: Redis, private readonly prefix: string, private readonly perHostConcurrency: number) {
    this.redis = withScripts(redis);
  }

  /**
   * Runs `fn` as a request to `origin` when the host can take it. A wait longer than
   * MAX_INLINE_WAIT_MS — a Crawl-delay or politeness slot further ahead, a Retry-After
   * push-back — throws HostBusyError instead, so the job leaves its worker slot for other hosts.
   * `slotAt` is a slot reserved for this job on an earlier run (see HostBusyError): used as is
   * while it is fresh; a stale one (the job came back late) is given up for a new one.
   */
  async run<T>(origin: string, delayMs: number, fn: () => Promise<T>, slotAt?: number): Promise<T> {
    await this.acquire(origin);
    try {
      let wait: number;
      if (delayMs > 0) {
        const now = Date.now();
        const reserved = slotAt !== undefined && now < slotAt + delayMs;
        wait = reserved ? slotAt - now : await this.redis.reserveSlot(this.slotKey(origin), delayMs, delayMs + 60_000);
        if (wait > MAX_INLINE_WAIT_MS) throw new HostBusyError(origin, wait, now + wait);
      } else {
        wait = await this.pushedBackMs(origin);
        if (wait > MAX_INLINE_WAIT_MS) throw new HostBusyError(origin, wait);
      }
      if (wait > 0) await sleep(wait);
      return await fn();
    } finally {
      this.release(origin);
    }
  }

  /** Nobody (in any process) sends to `origin` for `ms`. */
  async pushBack(origin: string, ms: number): Promise<void> {
    if (ms <= 0) return;
    this.pushBackCache.set(origin, { readAt: Date.now(), until: Date.now() + ms });
    await this.redis.pushBack(this.slotKey(origin), ms);
  }

  /**
   * Without a delay only a Retry-After push-back can make us wait. Other processes' push-backs
   * are read from Redis at most every PUSH_BACK_REFRESH_MS per origin, not per request.
   */
  private async pushedBackMs(origin: string): Promise<number> {
    const now = Date.now();
    const cached = this.pushBackCache.get(origin);
    if (cached && now - cached.readAt < PUSH_BACK_REFRESH_MS) return Math.max(0, cached.until - now);
    const wait = await this.readPushBack(origin);
    if (this.pushBackCache.size > 10_000) this.pushBackCache.clear();
    this.pushBackCache.set(origin, { readAt: now, until: now + wait });
    return wait;
  }

  private async readPushBack(origin: string): Promise<number> {
    const [[, until], [, time]] = (await this.redis.pipeline().get(this.slotKey(origin)).time().exec()) as [
      [null, string | null],
      [null, [string, string]],
    ];
    if (!until) return 0;
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    return Math.max(0, Number(until) - now);
  }

  private slotKey(origin: string): string {
    return `${this.prefix}:host-slot:${origin}`;
  }

  /**
   * A connection slot for `origin`. Jobs queue here in process: moving them to delayed instead
   * would make a queue full of one host's jobs cycle through Redis as fast as it can.
   */
  private acquire(origin: string): Promise<void> {
    const n = this.active.get(origin) ?? 0;
    if (n < this.perHostConcurrency) {
      this.active.set(origin, n + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const list = this.waiters.get(origin) ?? [];
      list.push(resolve);
      this.waiters.set(origin, list);
    });
  }

  private release(origin: string): void {
    const next = this.waiters.get(origin)?.shift();
    if (next) {
      next(); // the slot passes straight to the next waiter
      return;
    }
    this.waiters.delete(origin);
    const n = (this.active.get(origin) ?? 1) - 1;
    if (n <= 0) this.active.delete(origin);
    else this.active.set(origin, n);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
