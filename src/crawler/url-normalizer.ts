import { createHash } from 'node:crypto';

/**
 * URL handling shared by discovery, scope and dedup. A URL is fetched at most once per session
 * in its normalised form: fragment dropped, scheme and host lower-cased, default port removed,
 * dot segments resolved, percent-escapes of unreserved characters decoded and the rest
 * upper-cased. The query is kept as written: reordering it could change what the server returns.
 */

const SKIPPED_SCHEMES = /^\s*(javascript|mailto|tel|data|blob|about|sms|callto|file|ftp):/i;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * Resolves `raw` against `base` the way a browser would and normalises it.
 * Returns null for anything that is not an http(s) URL worth fetching.
 */
export function resolveUrl(raw: string | undefined | null, base: string | URL): string | null {
  if (raw === undefined || raw === null) return null;
  // Browsers strip leading/trailing whitespace and remove tabs/newlines inside URLs.
  const cleaned = raw.replace(/[\t\n\r]/g, '').trim();
  if (cleaned === '' || cleaned.startsWith('#') || SKIPPED_SCHEMES.test(cleaned)) return null;
  let url: URL;
  try {
    url = new URL(cleaned, base);
  } catch {
    return null;
  }
  return normalizeParsed(url);
}

/** Normalises an absolute URL; null when it is not http(s) or does not parse. */
export function normalizeUrl(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return null;
  }
  return normalizeParsed(url);
}

function normalizeParsed(url: URL): string | null {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (!url.hostname) return null;
  url.hash = '';
  url.username = '';
  url.password = '';
  // A trailing dot names the same host (example.com. == example.com).
  if (url.hostname.endsWith('.')) url.hostname = url.hostname.replace(/\.+$/, '');
  url.pathname = normalizeEscapes(url.pathname);
  if (url.search) url.search = normalizeEscapes(url.search);
  return url.href;
}

function normalizeEscapes(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

/** Short stable key for a normalised URL: Redis dedup member and part of the BullMQ job id. */
export function urlKey(normalizedUrl: string): string {
  return createHash('sha1').update(normalizedUrl).digest('base64url');
}

/** `scheme://host[:port]`, the unit robots.txt and politeness apply to. */
export function originOf(url: string): string {
  return new URL(url).origin;
}
