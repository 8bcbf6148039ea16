import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ZodError } from 'zod';
import { ConfigError } from '../errors';
import { AppConfig, configSchema } from './config-schema';
import { parseCidr } from '../crawler/net-policy';
import { hostName, syncToken } from './host-identity';

/** Well-known environment variables and the config key each one sets. */
const ENV_KEYS: Record<string, string[]> = {
  DATABASE_URL: ['database', 'url'],
  REDIS_URL: ['redis', 'url'],
  REDIS_PREFIX: ['redis', 'prefix'],
  API_TOKEN: ['api', 'token'],
  API_HOST: ['api', 'host'],
  API_PORT: ['api', 'port'],
  DATA_DIR: ['storage', 'data_dir'],
  SYNC_TOKEN: ['sync', 'token'],
  SYNC_HOST_NAME: ['sync', 'host_name'],
  LOG_LEVEL: ['log_level'],
  SMTP_URL: ['alerts', 'email', 'smtp_url'],
  JWT_SECRET: ['api', 'jwt', 'secret'],
  BACKUP_PASSPHRASE: ['backup', 'passphrase'],
};

/** Generic override: IMAGE_CRAWLER__CRAWLER__MAX_PAGES=100 sets crawler.max_pages. */
const GENERIC_PREFIX = 'IMAGE_CRAWLER__';

export interface LoadConfigOptions {
  /** Path of a YAML file; else $IMAGE_CRAWLER_CONFIG; else ./image-crawler.yaml when present. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Applied last (command-line flags). */
  overrides?: Record<string, unknown>;
}

/** Reads YAML, then env, then overrides; validates; every error names the key. */
export function loadConfig(opts: LoadConfigOptions = {}): AppConfig {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.IMAGE_CRAWLER_CONFIG ?? defaultFile();
  const raw: Record<string, unknown> = file ? readYaml(file) : {};
  // Where each value not from the file came from, so a mistake is blamed on the right thing.
  const origins = new Map<string, string>();

  for (const [name, keyPath] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, keyPath, coerceEnv(keyPath, value));
    origins.set(keyPath.join('.'), `from ${name}`);
  }
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(GENERIC_PREFIX) || value === undefined) continue;
    const keyPath = name.slice(GENERIC_PREFIX.length).toLowerCase().split('__');
    setPath(raw, keyPath, YAML.parse(value));
    origins.set(keyPath.join('.'), `from ${name}`);
  }
  if (opts.overrides) {
    deepMerge(raw, opts.overrides);
    for (const keyPath of leafPaths(opts.overrides)) origins.set(keyPath, 'from the command line');
  }
  const config = validateConfig(raw, file ? `configuration (${file})` : 'configuration', origins);
  // A plugin's relative path is the config file's neighbour, wherever the process starts.
  if (file) for (const p of config.plugins) if (/^\.\.?[\\/]/.test(p.module)) p.module = path.resolve(path.dirname(file), p.module);
  return config;
}

/** `a.b.c` of every leaf of a nested object. */
function leafPaths(obj: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? leafPaths(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

export function validateConfig(raw: unknown, source = 'configuration', origins: ReadonlyMap<string, string> = new Map()): AppConfig {
  let config: AppConfig;
  try {
    config = configSchema.parse(raw);
  } catch (err) {
    if (err instanceof ZodError) throw new ConfigError(`invalid ${source}: ${formatZodError(err, origins)}`);
    throw err;
  }
  const ssl = config.database.ssl;
  if (ssl) {
    config.database.url = withSsl(config.database.url, ssl);
    for (const node of config.database.nodes) node.url = withSsl(node.url, ssl);
  }
  const cidrLists: [string, string[]][] = [
    ['crawler.allow_nets', config.crawler.allow_nets],
    ['api.allow_ips', config.api.allow_ips],
    ['api.ha_allow_ips', config.api.ha_allow_ips],
    ['sync.allow_ips', config.sync.allow_ips],
  ];
  for (const [key, list] of cidrLists) {
    list.forEach((cidr, i) => {
      try {
        parseCidr(cidr);
      } catch (e) {
        throw new ConfigError(`invalid ${source}: ${annotated(`${key}.${i}`, origins)}: ${(e as Error).message}`);
      }
    });
  }
  if (config.sync.peers.length > 0) {
    const token = syncToken(config);
    if (!token) {
      throw new ConfigError(`invalid ${source}: sync.peers needs sync.token (SYNC_TOKEN): the hosts authenticate each other with it`);
    }
    // A peer holding the sync token must not thereby hold the API (failover, deletes).
    const sha = createHash('sha256').update(token).digest('hex');
    if (token === config.api.token || config.api.tokens.some((t) => t.sha256 === sha)) {
      throw new ConfigError(`invalid ${source}: sync.token must differ from every API token (a peer would hold the API with it)`);
    }
    if (!config.sync.allow_insecure) {
      config.sync.peers.forEach((peer, i) => {
        const url = new URL(peer.url);
        if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
          throw new ConfigError(`invalid ${source}: sync.peers.${i}.url (${peer.name}): the sync token would cross the network in clear text over http://; use https:// (sync.ca to pin the peers' CA) or set sync.allow_insecure: true`);
        }
      });
    }
    const self = hostName(config);
    if (config.sync.peers.some((p) => p.name === self)) throw new ConfigError(`invalid ${source}: sync.peers names this host itself (${self}); set sync.host_name`);
  }
  return config;
}

/** `key (from WHERE)` when the key's value came from the environment or the command line. */
function annotated(key: string, origins: ReadonlyMap<string, string>): string {
  for (let k = key; k; k = k.slice(0, Math.max(0, k.lastIndexOf('.')))) {
    const origin = origins.get(k);
    if (origin) return `${key} (${origin})`;
  }
  return key;
}

export function formatZodError(err: ZodError, origins: ReadonlyMap<string, string> = new Map()): string {
  return err.issues
    .map((issue) => {
      const where = issue.path.length ? annotated(issue.path.join('.'), origins) : '(root)';
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys.map((k) => (where === '(root)' ? k : `${where}.${k}`));
        return `unknown key ${keys.map((k) => `"${k}"`).join(', ')}`;
      }
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}

function defaultFile(): string | undefined {
  const candidate = path.resolve('image-crawler.yaml');
  return fs.existsSync(candidate) ? candidate : undefined;
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file} must hold a mapping at the top level`);
  }
  return parsed as Record<string, unknown>;
}

function coerceEnv(keyPath: string[], value: string): unknown {
  return keyPath[keyPath.length - 1] === 'port' ? Number(value) : value;
}

function setPath(target: Record<string, unknown>, keyPath: string[], value: unknown): void {
  let node = target;
  for (const key of keyPath.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keyPath[keyPath.length - 1]] = value;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const existing = target[key];
    if (isPlainObject(value) && isPlainObject(existing)) deepMerge(existing, value);
    else target[key] = value;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * A connection URL carrying database.ssl, in node-postgres' terms: its `require` verifies, so
 * libpq's `require` (encrypt, do not verify) is `no-verify`; the verify modes check the
 * certificate against the CA file and the host name. A URL's own sslmode wins.
 */
function withSsl(url: string, ssl: NonNullable<AppConfig['database']['ssl']>): string {
  const u = new URL(url);
  if (u.searchParams.has('sslmode')) return url;
  u.searchParams.set('sslmode', ssl.mode === 'require' ? 'no-verify' : 'verify-full');
  if (ssl.ca && ssl.mode !== 'require') u.searchParams.set('sslrootcert', ssl.ca);
  return u.href;
}
