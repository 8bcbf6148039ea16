import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { AlertsConfig, AppConfig, PluginEntry, configSchema } from '../config/config-schema';
import { ConfigError } from '../errors';
import type { Logger } from 'winston';
import { getLogger, throttledError } from '../logger';
import { createEmailNotifier } from './builtin/email';
import { createPhash } from './builtin/phash';
import { createRender } from './builtin/render';
import { createSitemaps } from './builtin/sitemaps';
import { createWebhookNotifier } from './builtin/webhook';
import type { Plugin, PluginFactory, PluginSetup } from './plugin-api';
import { LoadedPlugin, PluginHook, PluginHost } from './plugin-host';

const log = getLogger('plugins');

/** What a plugin's image store must implement (see FileStore). */
const FILE_STORE_METHODS = ['put', 'has', 'size', 'openRead', 'remove', 'removeUnlessUsed', 'check', 'inventory'] as const;

/** The built-ins, by the name a config entry gives as `module`. */
export const BUILTIN_PLUGINS: Record<string, PluginFactory> = {
  sitemaps: createSitemaps,
  phash: createPhash,
  render: createRender,
  webhook: createWebhookNotifier,
  email: createEmailNotifier,
};

/**
 * The plugins a process runs, in order: the built-ins on by default (sitemaps; render, which
 * does nothing until a session asks for it), the alert
 * notifiers the `alerts:` section asks for (webhook, email), then `plugins:` of the config. An
 * entry naming a built-in replaces its default (its options, or `enabled: false`). phash is
 * asked for by name: decoding every image through libvips costs ~3.5 ms of CPU per image, three
 * times the whole crawl's cost of a small one (README "Plugins"). Pure.
 */
export function pluginEntries(config: AppConfig): PluginEntry[] {
  const defaults: PluginEntry[] = [
    { module: 'sitemaps', options: {}, enabled: true },
    { module: 'render', options: {}, enabled: true },
  ];
  defaults.push(...notifierEntries(config.alerts));
  const configured = new Map(config.plugins.map((p) => [p.module, p]));
  const entries = defaults.map((d) => configured.get(d.module) ?? d);
  for (const p of config.plugins) if (!defaults.some((d) => d.module === p.module)) entries.push(p);
  return entries.filter((e) => e.enabled);
}

/** The built-in notifiers the `alerts:` section asks for (webhook_url, email). Pure. */
function notifierEntries(alerts: AlertsConfig): PluginEntry[] {
  const entries: PluginEntry[] = [];
  if (alerts.webhook_url) entries.push({ module: 'webhook', options: { url: alerts.webhook_url }, enabled: true });
  if (alerts.email.smtp_url && alerts.email.to.length > 0) {
    entries.push({ module: 'email', options: { smtp_url: alerts.email.smtp_url, from: alerts.email.from, to: alerts.email.to }, enabled: true });
  }
  return entries;
}

/**
 * Just the built-in notifiers of `alerts:`, made at once (their factories are synchronous), for
 * an alert sender outside a runtime that loaded the plugins (an HA manager of the CLI or a test).
 */
export function builtinNotifiers(alerts: AlertsConfig): PluginHost {
  const loaded = notifierEntries(alerts).map((e) => ({ name: e.module, plugin: BUILTIN_PLUGINS[e.module](setupFor(e, null)) as Plugin }));
  return new PluginHost(loaded, reportFailure());
}

/**
 * Logs a plugin's failures; the same failure again (a render plugin without Chromium fails on
 * every page) at most every 10 s, with how often it repeated. The metric counts every one.
 */
export function reportFailure(to: Logger = log): (plugin: string, hook: PluginHook, err: Error) => void {
  const throttles = new Map<string, ReturnType<typeof throttledError>>();
  return (plugin, hook, err) => {
    const key = `${plugin}\0${hook}\0${err.message}`;
    let report = throttles.get(key);
    if (!report) {
      if (throttles.size >= 1000) throttles.clear();
      report = throttledError(to, 'plugin failed');
      throttles.set(key, report);
    }
    report(err, { plugin, hook });
  };
}

function setupFor(entry: PluginEntry, config: AppConfig | null): PluginSetup {
  const pluginLog = getLogger(`plugin:${entry.module}`);
  // A notifier started without a whole config (alerts only) gets the crawler's defaults.
  const c = config?.crawler ?? configSchema.parse({}).crawler;
  return {
    name: entry.module,
    options: entry.options,
    log: { info: (m, meta) => pluginLog.info(m, meta), warn: (m, meta) => pluginLog.warn(m, meta), error: (m, meta) => pluginLog.error(m, meta) },
    limits: { maxPageBytes: c.max_page_bytes, maxImagePixels: c.max_image_pixels, maxUrlLength: c.max_url_length },
  };
}

/**
 * Loads and starts every plugin of `config`. A module that cannot be found, exports no factory,
 * or whose factory refuses its options is a configuration error (the process does not start
 * half-equipped); `onError` hears of every later failure of a hook.
 */
export async function loadPlugins(config: AppConfig, onError: (plugin: string, hook: PluginHook, error: Error) => void = () => undefined): Promise<PluginHost> {
  const loaded: LoadedPlugin[] = [];
  for (const entry of pluginEntries(config)) {
    const factory = BUILTIN_PLUGINS[entry.module] ?? (await importFactory(entry.module));
    let plugin: Plugin;
    try {
      plugin = await factory(setupFor(entry, config));
    } catch (err) {
      throw new ConfigError(`plugin ${entry.module}: ${(err as Error).message}`);
    }
    if (!plugin || typeof plugin !== 'object') throw new ConfigError(`plugin ${entry.module}: its factory returned ${String(plugin)}, not a plugin object`);
    const missing = plugin.imageStore ? FILE_STORE_METHODS.filter((m) => typeof plugin.imageStore?.[m] !== 'function') : [];
    if (missing.length > 0) throw new ConfigError(`plugin ${entry.module}: its imageStore lacks ${missing.join(', ')}`);
    loaded.push({ name: entry.module, plugin });
  }
  const report = reportFailure();
  const host = new PluginHost(loaded, (name, hook, err) => {
    report(name, hook, err);
    onError(name, hook, err);
  });
  if (loaded.length > 0) log.debug('plugins loaded', { plugins: host.names });
  return host;
}

async function importFactory(specifier: string): Promise<PluginFactory> {
  let mod: Record<string, unknown>;
  try {
    // A package is looked for from the working directory (where the deployment installed it).
    const file = path.isAbsolute(specifier) ? specifier : require.resolve(specifier, { paths: [process.cwd()] });
    mod = await dynamicImport(pathToFileURL(file).href);
  } catch (err) {
    throw new ConfigError(`plugin ${specifier} cannot be loaded: ${(err as Error).message}`);
  }
  const factory = (mod.createPlugin ?? mod.default ?? (mod.default as Record<string, unknown> | undefined)?.default) as unknown;
  if (typeof factory !== 'function') throw new ConfigError(`plugin ${specifier} exports no factory (default export or createPlugin)`);
  return factory as PluginFactory;
}

// A real import() (TypeScript would compile it to require() here): plugins may be ES modules.
const dynamicImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;
