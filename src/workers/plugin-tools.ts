import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SessionOptions } from '../crawler/crawl-options';
import { HostBusyError } from '../errors';
import type { PageTools } from '../plugins/plugin-api';
import type { Runtime } from '../runtime';
import { politeFetch } from './polite-fetch';

/** A key of `once` lives as long as a session might. */
const ONCE_TTL_S = 30 * 24 * 3600;

/**
 * What a page processor may use, bound to one session: fetches through the crawler's own path
 * (network policy, robots.txt, politeness, size and time limits) — a host's politeness slot is
 * waited for here, as a plugin has no job to postpone — and a once-per-session flag in Redis.
 */
export function pageTools(rt: Pick<Runtime, 'robots' | 'throttle' | 'http' | 'config' | 'redis'>, sessionId: string, options: SessionOptions): PageTools {
  return {
    async fetch(url, opts = {}) {
      const req = { kind: 'other' as const, accept: opts.accept ?? '*/*', maxBytes: Math.min(opts.maxBytes ?? rt.config.crawler.max_page_bytes, 256 * 1024 * 1024) };
      let slotAt: number | undefined;
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await politeFetch(rt, options, url, req, slotAt);
          if (res.status < 200 || res.status > 299) throw new Error(`${url} answered ${res.status}`);
          return { url: res.finalUrl, status: res.status, contentType: res.contentType, body: res.body };
        } catch (err) {
          if (!(err instanceof HostBusyError) || attempt >= 20) throw err;
          slotAt = err.slotAt;
          await sleep(err.waitMs);
        }
      }
    },
    async robots(origin) {
      const rules = await rt.robots.rulesFor(origin, options.network);
      return { sitemaps: rules.sitemaps(), isAllowed: (url: string) => rules.isAllowed(url) };
    },
    async once(key) {
      const digest = createHash('sha256').update(key).digest('hex').slice(0, 32);
      return (await rt.redis.set(`${rt.config.redis.prefix}:plugin-once:${sessionId}:${digest}`, '1', 'EX', ONCE_TTL_S, 'NX')) === 'OK';
    },
  };
}
