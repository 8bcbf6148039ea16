import { createHash } from 'node:crypto';
import dns from 'node:dns/promises';
import { NetPolicy } from '../crawler/net-policy';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SessionOptions } from '../crawler/crawl-options';
import { HostBusyError } from '../errors';
import type { PageTools } from '../plugins/plugin-api';
import type { Runtime } from '../runtime';

export type PageToolDeps = Pick<Runtime, 'robots' | 'throttle' | 'http' | 'config' | 'redis'>;
import { politeFetch } from './polite-fetch';

/** A key of `once` lives as long as a session might. */
const ONCE_TTL_S = 30 * 24 * 3600;

/**
 * What a page processor may use, bound to one session: fetches through the crawler's own path
 * (network policy, robots.txt, politeness, size and time limits) — a host's politeness slot is
 * waited for here, as a plugin has no job to postpone — and a once-per-session flag in Redis.
 */
export function pageTools(rt: PageToolDeps, sessionId: string, options: SessionOptions): PageTools {
  const c = rt.config.crawler;
  // Built on first use: only a plugin that checks URLs (render) needs it, and this runs per page.
  let policy: NetPolicy | undefined;
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
    async allowed(url) {
      let host: string;
      try {
        const parsed = new URL(url);
        if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
        host = parsed.hostname.replace(/^\[|\]$/g, '');
      } catch {
        return false;
      }
      const addresses = await dns.lookup(host, { all: true }).catch(() => []);
      policy ??= new NetPolicy(options.network ?? { allowPrivate: c.allow_private, allowNets: c.allow_nets });
      const p = policy;
      return addresses.length > 0 && addresses.every((a) => p.check(a.address).allowed);
    },
    browserProxy() {
      return rt.http.browserProxy(options.network);
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
