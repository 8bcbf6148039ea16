import type { AlertMessage, FetchedPage, FileStore, ImageMetadata, PageFindings, PageTools, Plugin, StoredImage } from './plugin-api';

/** A plugin as loaded: its configured name and its hooks. */
export interface LoadedPlugin {
  name: string;
  plugin: Plugin;
}

export type PluginHook = 'processPage' | 'processImage' | 'notify' | 'close';

/** How long each hook may take (a page processor may fetch sitemaps: longer). */
const DEADLINE_MS: Record<PluginHook, number> = { processPage: 120_000, processImage: 10_000, notify: 15_000, close: 5_000 };
/** What one page processor call may add at most (a sitemap holds 50,000 URLs). */
const MAX_FINDINGS = 100_000;
const MAX_METADATA_BYTES = 16_384;

/** Pages and images the page processors added. */
export interface Findings {
  pages: string[];
  /** `via`: the plugin that found it (recorded as the image's discovered_via). */
  images: { url: string; pageUrl?: string; via: string }[];
}

/**
 * Runs the loaded plugins' hooks for the crawler, each guarded: a deadline, its result checked,
 * and a failure reported through `onError` (log and metric) instead of thrown — a plugin never
 * fails a page or an image, and never kills a worker.
 */
export class PluginHost {
  constructor(readonly plugins: LoadedPlugin[], private readonly onError: (plugin: string, hook: PluginHook, error: Error) => void) {}

  static none(): PluginHost {
    return new PluginHost([], () => undefined);
  }

  get names(): string[] {
    return this.plugins.map((p) => p.name);
  }

  /** The storage back-ends plugins offer (storage.backend: plugin takes the only one). */
  get imageStores(): { name: string; store: FileStore }[] {
    return this.plugins.flatMap((p) => (p.plugin.imageStore ? [{ name: p.name, store: p.plugin.imageStore }] : []));
  }

  has(hook: PluginHook): boolean {
    return this.plugins.some((p) => typeof p.plugin[hook] === 'function');
  }

  async processPage(page: FetchedPage, tools: PageTools): Promise<Findings> {
    const out: Findings = { pages: [], images: [] };
    for (const { name, plugin } of this.plugins) {
      if (!plugin.processPage) continue;
      const found = await this.guard(name, 'processPage', async () => checkFindings(await plugin.processPage!(page, tools)));
      if (found) {
        out.pages.push(...found.pages);
        for (const image of found.images) out.images.push({ ...image, via: viaLabel(name) });
      }
    }
    return out;
  }

  /** Every image processor's metadata, merged (later plugins win on a shared key); null when none added any. */
  async processImage(image: StoredImage): Promise<ImageMetadata | null> {
    let merged: ImageMetadata | null = null;
    for (const { name, plugin } of this.plugins) {
      if (!plugin.processImage) continue;
      const meta = await this.guard(name, 'processImage', async () => checkMetadata(await plugin.processImage!(image)));
      if (meta) merged = { ...(merged ?? {}), ...meta };
    }
    return merged;
  }

  async notify(alert: AlertMessage): Promise<void> {
    await Promise.all(this.plugins.filter((p) => p.plugin.notify).map(({ name, plugin }) => this.guard(name, 'notify', async () => plugin.notify!(alert))));
  }

  async close(): Promise<void> {
    await Promise.all(this.plugins.filter((p) => p.plugin.close).map(({ name, plugin }) => this.guard(name, 'close', async () => plugin.close!())));
  }

  private async guard<T>(name: string, hook: PluginHook, fn: () => Promise<T>): Promise<T | null> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${DEADLINE_MS[hook] / 1000} s`)), DEADLINE_MS[hook]);
    });
    try {
      return await Promise.race([fn(), deadline]);
    } catch (err) {
      this.onError(name, hook, err instanceof Error ? err : new Error(String(err)));
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A plugin's name as an image's discovered_via (24 characters): a module path's file name. */
export function viaLabel(name: string): string {
  return (name.split(/[\\/]/).pop() ?? name).replace(/\.[cm]?[jt]s$/, '').slice(0, 24);
}

function checkFindings(value: unknown): PageFindings & Required<Pick<PageFindings, 'pages' | 'images'>> {
  if (value === undefined || value === null) return { pages: [], images: [] };
  if (typeof value !== 'object') throw new Error(`processPage returned ${typeof value}, not { pages?, images? }`);
  const { pages = [], images = [] } = value as { pages?: unknown; images?: unknown };
  if (!Array.isArray(pages) || !pages.every((p) => typeof p === 'string')) throw new Error('processPage: pages must be an array of URL strings');
  if (!Array.isArray(images) || !images.every((i) => i && typeof i.url === 'string' && (i.pageUrl === undefined || typeof i.pageUrl === 'string'))) {
    throw new Error('processPage: images must be an array of { url, pageUrl? }');
  }
  if (pages.length + images.length > MAX_FINDINGS) throw new Error(`processPage returned ${pages.length + images.length} URLs (at most ${MAX_FINDINGS})`);
  return { pages, images: images.map((i: { url: string; pageUrl?: string }) => ({ url: i.url, pageUrl: i.pageUrl })) };
}

function checkMetadata(value: unknown): ImageMetadata | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error('processImage must return an object of metadata');
  for (const [k, v] of Object.entries(value)) {
    if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) throw new Error(`processImage: metadata ${k} is ${typeof v} (string, number, boolean or null only)`);
  }
  if (JSON.stringify(value).length > MAX_METADATA_BYTES) throw new Error(`processImage: metadata over ${MAX_METADATA_BYTES} bytes`);
  return value as ImageMetadata;
}
