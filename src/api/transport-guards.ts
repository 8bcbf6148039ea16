import type { NextFunction, Request, Response } from 'express';
import ipaddr from 'ipaddr.js';
import { parseCidr } from '../crawler/net-policy';

/** Transport-level guards of the HTTP servers: who may connect, and HTTPS only once seen. */

/**
 * Only callers from the given CIDR ranges pass (none given: everyone). The address is Express's
 * `req.ip`: behind a proxy, the forwarded one only when `api.trust_proxy` says to trust it.
 */
export function allowIps(cidrs: string[], what: string) {
  const nets = cidrs.map(parseCidr);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (nets.length === 0) return next();
    const ip = req.ip ?? '';
    if (ipaddr.isValid(ip)) {
      let addr = ipaddr.parse(ip);
      if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
      if (nets.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits))) return next();
    }
    res.status(403).json({ error: `${ip || 'this address'} may not use ${what} (${what === 'the HA API' ? 'api.ha_allow_ips' : what === 'host-to-host sync' ? 'sync.allow_ips' : 'api.allow_ips'})` });
  };
}

/** Served over HTTPS (api.tls): browsers keep to HTTPS for a year. */
export function hsts(_req: Request, res: Response, next: NextFunction): void {
  res.set('Strict-Transport-Security', 'max-age=31536000');
  next();
}
