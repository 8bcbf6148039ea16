/**
 * The plugin interfaces: everything a plugin may implement and everything it is given. A plugin
 * module (a path or a package name in `plugins:` of the config) exports, as `default` or as
 * `createPlugin`, a factory that receives its setup and returns a `Plugin` with any of the hooks
 * below. The built-ins (sitemaps, phash, webhook, email, in ./builtin) are written against
 * exactly these types.
 *
 * What the host promises a plugin: each hook runs with a deadline; a hook that throws, times out
 * or returns something malformed is logged (`plugin failed`), counted
 * (`image_crawler_plugin_errors_total{plugin,hook}`) and ignored — it never fails the page or
 * the image, never kills the worker. What a plugin promises: it does not modify the buffers it
 * is given, and it fetches through `tools.fetch` (the crawler's network policy, robots.txt and
 * politeness), not around them.
 */
import type { FileStore } from '../storage/image-store';
import type { ProxySettings } from '../http/guarded-proxy';

export type { FileStore } from '../storage/image-store';
export type { FileCheck } from '../storage/content-store';
export type { ProxySettings } from '../http/guarded-proxy';

export interface PluginLogger {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

/** What a factory receives. */
export interface PluginSetup {
  /** The name it was configured under (a built-in's name, or the module as written). */
  name: string;
  /** `options:` of its config entry, as written (the plugin validates them: throw to refuse). */
  options: Record<string, unknown>;
  log: PluginLogger;
  /** The crawler's own limits, for a plugin that fetches or parses. */
  limits: { maxPageBytes: number; maxImagePixels: number; maxUrlLength: number };
}

/** A page the crawler fetched and parsed as HTML. */
export interface FetchedPage {
  sessionId: string;
  /** The URL after redirects. */
  url: string;
  status: number;
  contentType: string;
  /** The page's bytes (read-only). */
  body: Buffer;
  /** Links from the start URL to here (0 for a start page). */
  depth: number;
  /** The session asked for pages rendered in a browser (`--render`, `render: true`). */
  render: boolean;
}

export interface PluginFetchResult {
  url: string;
  status: number;
  contentType: string;
  body: Buffer;
}

/** What a page processor may use. */
export interface PageTools {
  /** GET through the crawler: network policy, robots.txt, politeness, size and time limits. Throws on a failure. */
  fetch(url: string, opts?: { accept?: string; maxBytes?: number }): Promise<PluginFetchResult>;
  /** Whether the session's network policy lets a request go to `url` (every address its host resolves to allowed). */
  allowed(url: string): Promise<boolean>;
  /**
   * An HTTP proxy for a browser a plugin drives (Playwright's `proxy` option has this shape): it
   * connects only where the session's network policy allows, resolving each name itself and
   * connecting to the address it checked, so a name cannot rebind between check and connection.
   */
  browserProxy(): Promise<ProxySettings>;
  /** The site's robots.txt as the crawler read it (fetched once for every job and plugin). */
  robots(origin: string): Promise<{ sitemaps: string[]; isAllowed(url: string): boolean }>;
  /** True the first time `key` is asked for in this session, across every worker and host. */
  once(key: string): Promise<boolean>;
}

/**
 * What a page processor found besides what the page itself names. Pages are crawled one link
 * deeper than the page, within the session's scope and budget; images are downloaded and
 * recorded with `pageUrl` (default: the page) as where they were found.
 */
export interface PageFindings {
  pages?: string[];
  images?: { url: string; pageUrl?: string }[];
}

/** An image about to be stored: verified, within the pixel budget. */
export interface StoredImage {
  sessionId: string;
  url: string;
  pageUrl: string | null;
  sha256: string;
  format: string;
  width: number;
  height: number;
  /** The image's bytes (read-only). */
  body: Buffer;
}

/** Metadata an image processor adds to the image's row (`metadata` in the API and the export). */
export type ImageMetadata = Record<string, string | number | boolean | null>;

/** An alert (database down, replication lag, disk space, backup, consistency). */
export interface AlertMessage {
  kind: string;
  /** The database node, or the host. */
  node: string;
  message: string;
  /** ISO 8601. */
  at: string;
}

export interface Plugin {
  /** Each page fetched as HTML: may add pages and images. */
  processPage?(page: FetchedPage, tools: PageTools): Promise<PageFindings | void> | PageFindings | void;
  /** Each image before it is stored: may add metadata. */
  processImage?(image: StoredImage): Promise<ImageMetadata | void> | ImageMetadata | void;
  /** Each alert, once per cooldown across the deployment. */
  notify?(alert: AlertMessage): Promise<void> | void;
  /**
   * A storage back-end: where image files live when `storage.backend: plugin` (see FileStore for
   * the promises it must keep; files received from peers are staged locally and handed over by
   * `put` once verified).
   */
  imageStore?: FileStore;
  /** The process is stopping. */
  close?(): Promise<void> | void;
}

export type PluginFactory = (setup: PluginSetup) => Plugin | Promise<Plugin>;
