import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { getLogger } from '../logger';
import { withScripts } from './lua-scripts';

const log = getLogger('lock');

/**
 * A lock in Redis held by one process: taken with SET NX PX, renewed while its work runs (every
 * third of its lifetime), released by compare-and-delete — never GET then DEL, which could
 * delete the lock of a process that took it after ours expired.
 */
export interface RedisLock {
  /** False once a renewal found the lock gone or taken by another process. */
  readonly held: boolean;
  release(): Promise<void>;
}

export async function acquireLock(redis: Redis, key: string, ttlMs: number): Promise<RedisLock | null> {
  const owner = `${process.pid}-${randomUUID()}`;
  if (!(await redis.set(key, owner, 'PX', ttlMs, 'NX'))) return null;
  const scripts = withScripts(redis);
  let held = true;
  const timer = setInterval(() => {
    scripts
      .renewLock(key, owner, ttlMs)
      .then((ok) => {
        if (!ok && held) log.warn('lock lost while its work ran', { key });
        held = held && ok === 1;
      })
      .catch(() => undefined); // Redis away: the lock lapses by itself
  }, Math.max(100, Math.floor(ttlMs / 3)));
  timer.unref();
  return {
    get held() {
      return held;
    },
    async release() {
      clearInterval(timer);
      held = false;
      await scripts.releaseLock(key, owner);
    },
  };
}
