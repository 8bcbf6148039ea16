import dns from 'node:dns';
import net, { type LookupFunction } from 'node:net';
import { BlockedUrlError } from '../errors';
import { NetPolicy } from '../crawler/net-policy';

/** dns.lookup's shape with `all: true` (tests hand in their own answers). */
export type Resolve = (hostname: string, options: dns.LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => void;

/**
 * A dns.lookup that only ever hands allowed addresses to the socket: the address checked is the
 * address connected to, so a name that answers differently the second time (DNS rebinding)
 * cannot slip a refused address past the check.
 */
export function guardedLookup(policy: NetPolicy, resolve: Resolve = dns.lookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, list) => {
      if (err) return callback(err, '', 0);
      const allowed = list.filter((a) => policy.check(a.address).allowed);
      if (allowed.length === 0) {
        const first = list[0];
        const range = first ? policy.check(first.address).range : 'none';
        return callback(new BlockedUrlError(NetPolicy.explain(hostname, first?.address ?? '?', range)), '', 0);
      }
      if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, allowed);
      callback(null, allowed[0].address, allowed[0].family);
    });
  };
}

/** Node skips the lookup hook for IP literals, so those are checked here (`host` as in URL.hostname). */
export function checkLiteralAddress(host: string, policy: NetPolicy): void {
  const bare = host.replace(/^\[|\]$/g, '');
  if (net.isIP(bare)) {
    const verdict = policy.check(bare);
    if (!verdict.allowed) throw new BlockedUrlError(NetPolicy.explain(bare, bare, verdict.range));
  }
}
