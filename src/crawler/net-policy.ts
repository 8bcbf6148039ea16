import ipaddr from 'ipaddr.js';

/**
 * Which IP addresses the crawler may connect to. Public unicast is always allowed; loopback and
 * private ranges only with `allowPrivate`; link-local (cloud metadata, 169.254.169.254) and the
 * other special ranges only when an `allowNets` CIDR names them. Pure: the HTTP layer calls
 * `check` with every address DNS returns, on every hop.
 */

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

/** Ranges `allowPrivate` opens (ipaddr.js range names). */
const PRIVATE_RANGES = new Set(['loopback', 'private', 'uniqueLocal', 'carrierGradeNat']);

export interface NetPolicyOptions {
  allowPrivate: boolean;
  allowNets: string[];
}

export interface AddressVerdict {
  allowed: boolean;
  /** ipaddr.js range name, e.g. "loopback", "linkLocal", "unicast". */
  range: string;
}

export function parseCidr(cidr: string): [Addr, number] {
  try {
    if (!cidr.includes('/')) {
      const addr = ipaddr.parse(cidr);
      return [addr, addr.kind() === 'ipv4' ? 32 : 128];
    }
    return ipaddr.parseCIDR(cidr);
  } catch {
    throw new Error(`"${cidr}" is not a CIDR range (e.g. 127.0.0.0/8 or fd00::/8)`);
  }
}

export class NetPolicy {
  private readonly allowPrivate: boolean;
  private readonly nets: [Addr, number][];

  constructor(opts: NetPolicyOptions) {
    this.allowPrivate = opts.allowPrivate;
    this.nets = opts.allowNets.map(parseCidr);
  }

  check(address: string): AddressVerdict {
    if (!ipaddr.isValid(address)) return { allowed: false, range: 'invalid' };
    let addr: Addr = ipaddr.parse(address);
    // ::ffff:127.0.0.1 is 127.0.0.1 to the kernel; judge it as such, and the deprecated
    // IPv4-compatible ::7f00:1 too (a host with a sit tunnel routes it to 127.0.0.1).
    if (addr.kind() === 'ipv6') {
      const v6 = addr as ipaddr.IPv6;
      const compatible = v6.parts.slice(0, 6).every((p) => p === 0) && v6.parts[6] !== 0;
      if (v6.isIPv4MappedAddress()) addr = v6.toIPv4Address();
      else if (compatible) addr = ipaddr.fromByteArray([v6.parts[6] >> 8, v6.parts[6] & 255, v6.parts[7] >> 8, v6.parts[7] & 255]);
    }
    const range = addr.range();
    if (this.nets.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits))) {
      return { allowed: true, range };
    }
    if (range === 'unicast') return { allowed: true, range };
    return { allowed: this.allowPrivate && PRIVATE_RANGES.has(range), range };
  }

  /** The same key for equal policies (a pool per policy). */
  static key(opts: NetPolicyOptions): string {
    return `${opts.allowPrivate ? 'private' : 'public'}|${[...opts.allowNets].sort().join(',')}`;
  }

  /** A message for a refused address, telling the operator which switch opens it. */
  static explain(host: string, address: string, range: string): string {
    const hint = PRIVATE_RANGES.has(range)
      ? 'allow it with --allow-private or --allow-net'
      : 'allow it only by naming it with --allow-net';
    return `refusing ${host} (${address}): ${range} address; ${hint}`;
  }
}
