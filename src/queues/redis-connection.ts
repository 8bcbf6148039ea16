import { Redis, RedisOptions } from 'ioredis';
import type { AppConfig } from '../config/config-schema';
import { maskPassword } from '../ha/ha-status';

/**
 * The one place a Redis connection is made from the configuration: straight to `redis.url`, or,
 * with `redis.sentinels`, through Redis Sentinel — ioredis asks the sentinels for the current
 * primary and reconnects to the new one after a Sentinel failover; BullMQ and every duplicate of
 * the connection inherit that.
 */
export function createRedis(config: AppConfig['redis'], options: RedisOptions = {}): Redis {
  if (config.sentinels.length === 0) return new Redis(config.url, options);
  const url = new URL(config.url);
  return new Redis({
    ...options,
    sentinels: config.sentinels.map((s) => {
      const at = s.lastIndexOf(':');
      return { host: s.slice(0, at), port: Number(s.slice(at + 1)) };
    }),
    name: config.sentinel_name,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    db: Number(url.pathname.replace(/^\//, '') || 0),
  });
}

/** Where the configuration points Redis, for messages (no password). */
export function describeRedis(config: AppConfig['redis']): string {
  return config.sentinels.length === 0 ? maskPassword(config.url) : `sentinels ${config.sentinels.join(', ')} (primary "${config.sentinel_name}")`;
}
