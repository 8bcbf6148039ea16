import { z } from 'zod';
import { cronError } from '../backup/backup-schedule';

/**
 * The whole configuration, as written in YAML (snake_case keys, so a key in the file and in the
 * code read the same). Every field has a default that works on a development machine with local
 * PostgreSQL and Redis; `.strict()` everywhere so a typo is an error that names the key.
 */

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/** A URL with one of `schemes`, said plainly when it is not one (a garbage DATABASE_URL made a stack trace). */
function urlOf(schemes: string[], example: string) {
  return z.string().refine(
    (s) => {
      try {
        return schemes.includes(new URL(s).protocol.slice(0, -1));
      } catch {
        return false;
      }
    },
    { message: `not a ${schemes[0]}:// URL (e.g. ${example})` },
  );
}
const postgresUrl = urlOf(['postgres', 'postgresql'], 'postgres://user:pw@host:5432/image_crawler');

/** A list whose entries' `name`s must differ. */
const uniqueNames =
  (what: string) =>
  (items: { name: string }[], ctx: z.RefinementCtx): void => {
    const names = items.map((n) => n.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${what} name "${dup}" is used twice` });
  };

export const nodeSchema = z
  .object({
    /** Unique name; for a standby also its application_name in replication (cluster_name). */
    name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-" only'),
    /** Connection URL of this node. */
    url: postgresUrl,
    /** Higher is promoted first. Default 100. */
    priority: z.number().int().default(100),
    /** This node's PGDATA on its own host, for `ha rejoin` (run there). Optional. */
    data_dir: z.string().optional(),
  })
  .strict();

export const databaseSchema = z
  .object({
    /** Connection URL of the primary. Default: local PostgreSQL, database `image_crawler`. */
    url: postgresUrl.default('postgres://postgres@127.0.0.1:5432/image_crawler'),
    /**
     * TLS to PostgreSQL for every connection (pools, probes, promotion, checks, the rescue):
     * `require` encrypts without verifying (libpq's require); `verify-ca` and `verify-full`
     * verify the server's certificate against `ca` (a PEM file) and its name. Added to every
     * URL that does not say its own sslmode.
     */
    ssl: z.object({ mode: z.enum(['require', 'verify-ca', 'verify-full']), ca: z.string().optional() }).strict().optional(),
    /** Create the database when it does not exist (needs CREATEDB). Default true. */
    create_if_missing: z.boolean().default(true),
    /** Pool size per process. Default 20 (SPEC §7 pool_size). */
    pool_size: positiveInt.default(20),
    /** Seconds to wait for a connection. Default 30. */
    connection_timeout_s: positiveInt.default(30),
    /**
     * The PostgreSQL nodes of a high-availability cluster (SPEC §7). Empty (default): one node,
     * `url`, no health checks. Otherwise the health checks find the primary among them.
     */
    nodes: z
      .array(nodeSchema)
      .default([])
      .superRefine(uniqueNames('node')),
  })
  .strict();

export const haSchema = z
  .object({
    /** Seconds between health checks of every node. SPEC default 5. */
    health_check_interval_s: z.number().positive().default(5),
    /** Consecutive failed checks before the primary counts as down. SPEC default 3. */
    failure_threshold: positiveInt.default(3),
    /**
     * Once the primary fails a check, it is probed again this often (each probe with its own
     * timeouts) until it answers or has failed failure_threshold times, instead of waiting for
     * the next checks. 0: only the regular checks count. Default 1000.
     */
    confirm_interval_ms: nonNegativeInt.default(1000),
    /**
     * A process writes to the primary only while it has read the cluster's term from Redis within
     * this long (it re-reads every third of it); a failover that could not fence the old primary
     * waits this long after moving the term before promoting. So a process cut off from Redis (a
     * partition, a missed message) stops writing before another node takes writes: nothing is
     * acknowledged on a deposed primary. 0 turns it off. Default 1500.
     */
    write_lease_ms: nonNegativeInt.default(1500),
    /** Connect timeout of a probe: a dead host does not refuse, it stays silent. Default 2000. */
    probe_connect_timeout_ms: positiveInt.default(2000),
    /** A probe answering slower than this counts as failed. SPEC default 30. */
    response_timeout_s: z.number().positive().default(30),
    /** Promote automatically. Default true. */
    auto_failover: z.boolean().default(true),
    /** A standby further behind than this is not promoted automatically. Default 16 MiB. */
    maximum_lag_on_failover_bytes: nonNegativeInt.default(16 * 1024 * 1024),
    /**
     * async (default): commits do not wait for a standby. sync: they wait until a standby has
     * applied them (remote_apply) — a failover loses nothing acknowledged. semi-sync: until a
     * standby has received them (remote_write). With no healthy standby the primary degrades to
     * async so writes never hang, and returns to the mode when one is back.
     */
    sync_mode: z.enum(['async', 'sync', 'semi-sync']).default('async'),
    /** Serve the API's image listings and reads from a healthy standby (may lag slightly). Default false. */
    read_from_standby: z.boolean().default(false),
  })
  .strict();

export const redisSchema = z
  .object({
    /** Default: local Redis. With `sentinels`, only its password and database number are used. */
    url: urlOf(['redis', 'rediss'], 'redis://host:6379').default('redis://127.0.0.1:6379'),
    /**
     * Redis Sentinel addresses ("host:port"): every process connects to the primary the sentinels
     * name and follows it when they fail over. Empty (default): `url` is used directly.
     */
    sentinels: z
      .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be "host:port"'))
      .default([]),
    /** The monitored primary's name in the sentinels' configuration. Default mymaster. */
    sentinel_name: z.string().min(1).default('mymaster'),
    /** Key prefix for queues and crawl state, so several deployments can share one Redis. */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-" only')
      .default('image-crawler'),
  })
  .strict();

export const apiSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    /** Main API port (SPEC §6). Default 8000. */
    port: z.number().int().min(0).max(65535).default(8000),
    /** HA API port (SPEC §6). Default 8001. */
    ha_port: z.number().int().min(0).max(65535).default(8001),
    /** Bearer token for the API and Bull Board (the admin role). When unset a random one is made and printed at start. */
    token: z.string().min(16, 'must be at least 16 characters').optional(),
    /**
     * More tokens, each with a name and a role — viewer (read), operator (start/stop crawls,
     * delete images), admin (failover, sync control, the audit log) — given by their SHA-256
     * (`printf %s TOKEN | sha256sum`): the configuration never holds a token.
     */
    tokens: z
      .array(
        z
          .object({
            name: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'letters, digits and _ . @ - only'),
            role: z.enum(['viewer', 'operator', 'admin']),
            sha256: z.string().regex(/^[0-9a-f]{64}$/, 'the SHA-256 of the token, 64 hex digits'),
          })
          .strict(),
      )
      .default([])
      .superRefine(uniqueNames('token')),
    /**
     * JWTs accepted as tokens too: `role` claim (viewer/operator/admin), `sub` as the name, `exp`
     * required. HS256 with `secret` (from JWT_SECRET), or RS256/ES256 with `public_key_file`.
     */
    jwt: z
      .object({
        secret: z.string().min(32, 'must be at least 32 characters').optional(),
        public_key_file: z.string().optional(),
        issuer: z.string().optional(),
        audience: z.string().optional(),
      })
      .strict()
      .optional(),
    /** HTTPS for the API, the console, the HA API and worker metrics: PEM files (HSTS is sent too). */
    tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
    /** Addresses (CIDR) that may use the API and the console; empty: any. */
    allow_ips: z.array(z.string()).default([]),
    /** Addresses (CIDR) that may use the HA API; empty: any. */
    ha_allow_ips: z.array(z.string()).default([]),
    /**
     * Behind a reverse proxy: which forwarded address to believe (Express "trust proxy": true,
     * a hop count, or addresses such as "loopback"). Default false: the socket's address.
     */
    trust_proxy: z.union([z.boolean(), z.number().int().nonnegative(), z.string()]).default(false),
    /**
     * Requests per window per token (per IP without a valid one), counted in Redis so every host
     * shares them; failed sign-ins (401: no valid token) per IP are held to `auth_failures_max`. 429 with
     * Retry-After beyond. The console's event stream and /api/health do not count.
     */
    rate_limit: z
      .object({
        window_s: positiveInt.default(60),
        max: positiveInt.default(1200),
        auth_failures_max: positiveInt.default(30),
      })
      .strict()
      .default({}),
  })
  .strict();

export const storageSchema = z
  .object({
    /** Where image files live (content-addressed by sha256), and otherwise thumbnails and files being received from peers. Default ./data under the working directory. */
    data_dir: z.string().min(1).default('./data'),
    /** fsync each image file before publishing it (survives power loss). Default true. */
    fsync: z.boolean().default(true),
    /** `local`: files under `<data_dir>/images`; `s3`: in the bucket `storage.s3` names; `plugin`: the store a plugin offers. Default local. */
    backend: z.enum(['local', 's3', 'plugin']).default('local'),
    /** An S3 (or S3-compatible) bucket; keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the SDK's other sources). */
    s3: z
      .object({
        /** The server's URL for an S3-compatible service (MinIO, Ceph, R2…); unset for AWS. */
        endpoint: z.string().url().optional(),
        bucket: z.string().min(3).max(63).regex(/^[a-z0-9][a-z0-9.-]+[a-z0-9]$/, 'an S3 bucket name (lower-case letters, digits, dots and hyphens)').optional(),
        /** Default us-east-1. */
        region: z.string().min(1).default('us-east-1'),
        /** Address the bucket in the path (most S3-compatible servers want it). Default false. */
        force_path_style: z.boolean().default(false),
        /** Keys start with this, e.g. `images/`. Default none. */
        prefix: z.string().regex(/^([A-Za-z0-9._-]+\/)*$/, 'folders ending in "/", e.g. "images/"').default(''),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.backend === 's3' && !v.s3.bucket) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['s3', 'bucket'], message: 'backend s3 needs storage.s3.bucket' });
  });

export const workerSchema = z
  .object({
    /** Pages fetched at once per worker process. Default 8. */
    crawl_concurrency: positiveInt.default(8),
    /** Images fetched at once per worker process. Default 32. */
    download_concurrency: positiveInt.default(32),
    /**
     * Image URLs one download job carries at most: the new images of a page go in jobs of this
     * many (each URL still claimed, retried and counted on its own). 1 = one job per URL. Default 16.
     */
    download_batch: positiveInt.max(1000).default(16),
    /** Times one URL is requested at most, the first try included, whatever the failure (retries, stalls, re-queues). Default 3. */
    attempts: positiveInt.default(3),
    /** First retry delay; doubles each attempt (Retry-After wins when longer). Default 1000. */
    backoff_ms: positiveInt.default(1000),
    /** Postponements of a job by database, Redis or disk failures before it gives up (its URL stays pending; the sweeper enqueues it again). Default 30. */
    infra_retries: positiveInt.default(30),
    /** How long a job's lock lives without renewal; a killed worker's jobs return after this. Default 30000. */
    lock_duration_ms: positiveInt.default(30_000),
    /** How often stalled (orphaned) jobs are looked for. Default 30000. */
    stalled_interval_ms: positiveInt.default(30_000),
    /** How often one process checks sessions for completion and for pending URLs without a job. Default 5000. */
    sweep_interval_ms: positiveInt.default(5000),
    /** A pending URL untouched this long is enqueued again (idempotent; covers crashes between claim and enqueue). Default 60000. */
    orphan_after_ms: positiveInt.default(60_000),
  })
  .strict();

export const crawlerSchema = z
  .object({
    /** User-Agent sent with every request; it names the project. */
    user_agent: z.string().min(1).default('image-crawler/0.1 (+https://www.npmjs.com/package/image-crawler)'),
    /** Default page budget of a session. Default 10000. */
    max_pages: positiveInt.default(10_000),
    /** Default link depth from the start URLs. Default 10. */
    max_depth: nonNegativeInt.default(10),
    /** Default budget of external stylesheets a session fetches (each `@import` counts). Default 1000. */
    max_stylesheets: positiveInt.default(1000),
    /** `@import` nesting followed below a page's own stylesheets; deeper imports are recorded as skipped. Default 5. */
    max_import_depth: nonNegativeInt.default(5),
    /** Links followed per page, in document order; the rest are counted as dropped on the page row. Default 1000. */
    max_links_per_page: positiveInt.default(1000),
    /** `srcset` candidates kept per attribute (the largest and the 1x/2x ones); the rest are counted as dropped. Default 8. */
    max_srcset_candidates: positiveInt.default(8),
    /** Requests in flight to one host from one process. Default 8. */
    per_host_concurrency: positiveInt.default(8),
    /** Minimum gap between two requests to one host, across all processes. robots Crawl-delay wins when longer. Default 0. */
    politeness_delay_ms: nonNegativeInt.default(0),
    /** Total time allowed for one request, body included. Default 30000. */
    request_timeout_ms: positiveInt.default(30_000),
    /** Time to connect and receive headers. Default 10000. */
    connect_timeout_ms: positiveInt.default(10_000),
    max_redirects: nonNegativeInt.default(5),
    /** Longest Retry-After (429/503) waited for; a server asking for more gets the URL recorded as failed. Default 120. */
    max_retry_after_s: positiveInt.default(120),
    /** Largest HTML page read (decompressed). Default 10 MiB. */
    max_page_bytes: positiveInt.default(10 * 1024 * 1024),
    /** Largest image body read (decompressed). Default 50 MiB. */
    max_image_bytes: positiveInt.default(50 * 1024 * 1024),
    /** Largest width × height × frames accepted: decompression-bomb guard. Default 100 Mpx. */
    max_image_pixels: positiveInt.default(100_000_000),
    max_url_length: positiveInt.default(2048),
    respect_robots: z.boolean().default(true),
    robots_cache_ttl_s: positiveInt.default(3600),
    /** Download favicons / touch icons. Default true. */
    include_icons: z.boolean().default(true),
    /** Download og:image / twitter:image. Default true. */
    include_meta_images: z.boolean().default(true),
    /** Allow loopback and private (RFC 1918, ULA) addresses. Default false. */
    allow_private: z.boolean().default(false),
    /** CIDR ranges allowed even though private/loopback/link-local, e.g. 127.0.0.0/8. */
    allow_nets: z.array(z.string()).default([]),
  })
  .strict();

export const peerSchema = z
  .object({
    /** The peer host's name (its sync.host_name). */
    name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-" only'),
    /** Base URL of the peer's main API, e.g. http://host-b:8000. */
    url: z.string().url(),
  })
  .strict();

export const syncSchema = z
  .object({
    /** This host's name among its peers. Default: the machine's hostname. */
    host_name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-" only').optional(),
    /** The other hosts whose image stores mirror this one. Empty (default): one host, nothing to copy. */
    peers: z
      .array(peerSchema)
      .default([])
      .superRefine(uniqueNames('peer')),
    /** Bearer token the hosts present to each other's internal sync endpoint (SYNC_TOKEN): required with peers, never an API token. */
    token: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Copy files to peers at all (SPEC auto_sync_enabled). Default true. */
    auto_sync_enabled: z.boolean().default(true),
    /** realtime: one copy job per stored file; batched: one job per sync_batch_size files (or sync_interval_s). */
    mode: z.enum(['realtime', 'batched']).default('realtime'),
    /** Files per job in batched mode. SPEC default 100. */
    batch_size: positiveInt.default(100),
    /** Longest a batched file waits for its batch. SPEC default 5. */
    sync_interval_s: z.number().positive().default(5),
    /** Differential full file sync and consistency check every this many seconds. SPEC default 300. */
    full_sync_interval_s: z.number().positive().default(300),
    /** Retries of a failed copy before it is left to the full sync. SPEC default 3. */
    max_retries: nonNegativeInt.default(3),
    /** Longest one HTTP request between hosts may take. SPEC default 30. */
    timeout_s: z.number().positive().default(30),
    /** Transfers go in chunks of this size; a broken transfer resumes at the last chunk received. Default 4 MiB. */
    chunk_bytes: positiveInt.default(4 * 1024 * 1024),
    /** Copies in flight per peer per process. Default 4. */
    concurrency: positiveInt.default(4),
    /** Rows per checksum bucket in consistency checks. Default 1000. */
    check_bucket_rows: positiveInt.default(1000),
    /** Consistency checks re-hash every file (else: size only). Default true. */
    verify_file_hashes: z.boolean().default(true),
    /** A PEM file of the CA (or the certificates) the peers' https:// URLs are verified against. Default: the system's CAs. */
    ca: z.string().optional(),
    /** Send the sync token to a peer over plain http:// on another host. Default false: refused at start. */
    allow_insecure: z.boolean().default(false),
    /** Incoming transfers under way at once on this host (partial files); a new one beyond is refused (507) until some finish or expire. */
    max_partials: positiveInt.default(64),
    /** Bytes of incoming partial files at once. Default 1 GiB. */
    max_partial_bytes: positiveInt.default(1024 * 1024 * 1024),
    /** A partial transfer untouched this long is dropped. Default 3600. */
    partial_idle_s: positiveInt.default(3600),
    /** Addresses (CIDR) of the peers that may use this host's /internal/sync; empty: any holding the sync token. */
    allow_ips: z.array(z.string()).default([]),
  })
  .strict();

const alertRule = <T extends z.ZodRawShape>(shape: T) => z.object({ enabled: z.boolean().default(true), ...shape }).strict();

export const alertsSchema = z
  .object({
    /** POSTed a JSON body per alert, besides the log. Optional. */
    webhook_url: z.string().url().optional(),
    /** A node failing this many consecutive checks. SPEC: 3 failures, 300 s cooldown. */
    database_down: alertRule({ threshold: positiveInt.default(3), cooldown_s: positiveInt.default(300) }).default({}),
    /** A standby replaying more than threshold_s behind. SPEC: 60 s, 600 s cooldown. */
    replication_lag: alertRule({ threshold_s: positiveInt.default(60), cooldown_s: positiveInt.default(600) }).default({}),
    /** A consistency check that finds nodes or hosts in disagreement. */
    consistency: alertRule({ cooldown_s: positiveInt.default(300) }).default({}),
    /** The disk of a host's image store fuller than threshold_percent, checked every interval_s by its workers. SPEC: 85 %, 1800 s. */
    /** A backup or verification that failed, or a kind whose last good backup is older than its schedule allows. */
    backup: alertRule({ cooldown_s: positiveInt.default(3600) }).default({}),
    disk_space: alertRule({ threshold_percent: z.number().min(1).max(100).default(85), cooldown_s: positiveInt.default(1800), interval_s: positiveInt.default(60) }).default({}),
    /** E-mail delivery of every alert, besides the log and the webhook. */
    email: z
      .object({
        /** smtp://user:password@host:587 or smtps://…: from SMTP_URL (it holds a password). */
        smtp_url: urlOf(['smtp', 'smtps'], 'smtp://user:password@mail.example.com:587').optional(),
        from: z.string().default('image-crawler@localhost'),
        to: z.array(z.string().email()).default([]),
      })
      .strict()
      .default({}),
  })
  .strict();

/** A cron string (minute hour day-of-month month day-of-week), as BullMQ's job schedulers take it. */
const cron = z
  .string()
  .regex(/^\s*(\S+\s+){4}\S+\s*$/, 'a cron string of five fields, e.g. "0 3 * * 0"')
  .superRefine((v, ctx) => {
    const error = cronError(v);
    if (error) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not a cron string: ${error}` });
  });

/**
 * Backups (SPEC §8): pgBackRest for the database (full/differential/incremental, WAL archived so
 * any moment since the oldest full backup can be restored), restic for the image store. Both
 * encrypt with BACKUP_PASSPHRASE; run by the `backup` process on the database host.
 */
export const backupSchema = z
  .object({
    /** The repository directory: pgBackRest's in `<repository>/pg`, restic's in `<repository>/files`. Default ./backups. */
    repository: z.string().min(1).default('./backups'),
    /** pgBackRest's configuration file, written by the backup commands (it holds the passphrase, mode 0600). Default `<repository>.pgbackrest.conf`. */
    pgbackrest_config: z.string().optional(),
    /** The pgBackRest stanza (the cluster's name in the repository). */
    stanza: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-" only').default('image-crawler'),
    /** Directory of the nodes' Unix sockets (pgBackRest talks to local nodes through it). Default: PostgreSQL's. */
    socket_dir: z.string().optional(),
    /** From BACKUP_PASSPHRASE: encrypts both repositories (pgBackRest aes-256-cbc, restic). */
    passphrase: z.string().min(12, 'at least 12 characters').optional(),
    /** false: repositories unencrypted, said explicitly; otherwise a backup without the passphrase is refused. */
    encryption: z.boolean().default(true),
    compression: z.enum(['zstd', 'none']).default('zstd'),
    /** When each kind runs (cron, the backup process's clock). */
    schedule: z
      .object({
        full: cron.default('0 3 * * 0'),
        diff: cron.default('0 3 * * 1-6'),
        incr: cron.default('0 * * * *'),
        /** pgbackrest verify, restic check and a restore test into a scratch directory. */
        verify: cron.default('30 4 * * *'),
      })
      .strict()
      .default({}),
    retention: z
      .object({
        /** Full database backups kept (and the differential/incremental ones and WAL that depend on them). */
        full: positiveInt.default(4),
        /** Differential database backups kept. */
        diff: positiveInt.default(7),
        /** restic snapshots of the image store kept: the last N. */
        files_last: positiveInt.default(30),
      })
      .strict()
      .default({}),
    /** Port of the scratch node the restore test starts (and stops). Default 54329. */
    restore_test_port: positiveInt.max(65535).default(54329),
  })
  .strict();

/**
 * One plugin: a built-in's name (sitemaps, phash, webhook, email), a module path (relative to the
 * config file) or a package name; its options are the plugin's to check.
 */
export const pluginEntrySchema = z
  .object({
    module: z.string().min(1),
    options: z.record(z.unknown()).default({}),
    /** false turns a built-in that is on by default off. */
    enabled: z.boolean().default(true),
  })
  .strict();

export const configSchema = z
  .object({
    database: databaseSchema.default({}),
    redis: redisSchema.default({}),
    api: apiSchema.default({}),
    storage: storageSchema.default({}),
    worker: workerSchema.default({}),
    crawler: crawlerSchema.default({}),
    ha: haSchema.default({}),
    sync: syncSchema.default({}),
    alerts: alertsSchema.default({}),
    backup: backupSchema.default({}),
    /** Plugins besides the built-in on by default (sitemaps), e.g. `{module: phash}`; see src/plugins/plugin-api.ts. */
    plugins: z.array(pluginEntrySchema).default([]),
    log_level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
    /** Besides stderr, HA, crawler and system logs in their own rotating files under `dir` (SPEC §7). */
    logging: z
      .object({
        dir: z.string().optional(),
        max_size_mb: positiveInt.default(50),
        max_files: positiveInt.default(5),
      })
      .strict()
      .default({}),
  })
  .strict();

export type AppConfig = z.infer<typeof configSchema>;
export type CrawlerConfig = AppConfig['crawler'];
export type NodeConfig = z.infer<typeof nodeSchema>;
export type HaConfig = AppConfig['ha'];
export type AlertsConfig = AppConfig['alerts'];
export type SyncConfig = AppConfig['sync'];
export type BackupConfig = AppConfig['backup'];
export type PeerConfig = z.infer<typeof peerSchema>;
export type PluginEntry = z.infer<typeof pluginEntrySchema>;
