import type { Redis } from 'ioredis';
import { getLogger } from '../logger';

const log = getLogger('events');

/**
 * What happens somewhere in the deployment that a client of any `web` may want to see at once.
 * Session progress and the cluster's term are read from shared state by each `web` (see
 * api/event-stream.ts); these are the moments nobody could poll for.
 */
export type BusEvent =
  | { type: 'alert'; kind: string; node: string; message: string; at: string }
  | { type: 'backup'; id: number; kind: string; status: string; label: string | null; error: string | null; at: string }
  | { type: 'sync'; host: string; ok: boolean; pulled: number; pushed: number; at: string }
  | { type: 'rewind'; node: string; primary: string; ok: boolean; error: string | null; at: string }
  | { type: 'failover'; term: number; from: string | null; to: string; outcome: string; automatic: boolean; reason: string; durationMs: number; at: string };

const channel = (prefix: string) => `${prefix}:events`;

/** Publishes an event to every `web` (Redis pub/sub: fire and forget; nobody listening is fine). */
export async function publishEvent(redis: Redis, prefix: string, event: BusEvent): Promise<void> {
  await redis.publish(channel(prefix), JSON.stringify(event)).catch((err: Error) => log.debug('event not published', { type: event.type, error: err.message }));
}

/**
 * Listens to the events of one deployment on a connection of its own (a subscribed Redis
 * connection can do nothing else). Returns the way to stop listening.
 */
export async function subscribeEvents(redis: Redis, prefix: string, onEvent: (event: BusEvent) => void): Promise<() => Promise<void>> {
  const sub = redis.duplicate();
  sub.on('error', (err) => log.debug('event subscription error', { error: err.message }));
  sub.on('message', (_channel: string, message: string) => {
    try {
      onEvent(JSON.parse(message) as BusEvent);
    } catch (err) {
      log.warn('unreadable event dropped', { error: (err as Error).message });
    }
  });
  await sub.subscribe(channel(prefix));
  return async () => {
    await sub.quit().catch(() => sub.disconnect());
  };
}
