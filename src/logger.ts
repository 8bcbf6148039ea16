import winston from 'winston';

const level = process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'warn' : 'info');

const root = winston.createLogger({
  level,
  format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  // stderr keeps stdout free for command output (export, --json summaries).
  transports: [new winston.transports.Console({ stderrLevels: Object.keys(winston.config.npm.levels) })],
});

export type Logger = winston.Logger;

/** A JSON logger tagged with the module it belongs to (`{"module":"crawl-worker",...}`). */
export function getLogger(module: string): Logger {
  return root.child({ module });
}

export function setLogLevel(newLevel: string): void {
  root.level = newLevel;
}

/** Which log file a module writes to with `logging.dir` (SPEC: HA, crawler and system logs). */
const LOG_FILES: Record<string, 'ha' | 'crawler'> = {
  ha: 'ha',
  router: 'ha',
  alerts: 'ha',
  rescue: 'ha',
  consistency: 'ha',
  lock: 'ha',
  workers: 'crawler',
  jobs: 'crawler',
  ingest: 'crawler',
  sweeper: 'crawler',
  robots: 'crawler',
  sessions: 'crawler',
  'file-sync': 'crawler',
  'sync-worker': 'crawler',
};

/** The log file (ha, crawler or system) a module's lines go to. */
export function logFileOf(module: unknown): 'ha' | 'crawler' | 'system' {
  return (typeof module === 'string' && LOG_FILES[module]) || 'system';
}

let fileTransports: winston.transport[] = [];

/**
 * With `logging.dir`: HA, crawler and system logs also go to `ha.log`, `crawler.log` and
 * `system.log` there, each rotated at `maxSizeMb` and kept `maxFiles` deep (stderr stays as it is).
 */
export function logToFiles(dir: string | undefined, maxSizeMb: number, maxFiles: number): void {
  for (const t of fileTransports) root.remove(t);
  fileTransports = [];
  if (!dir) return;
  for (const name of ['ha', 'crawler', 'system'] as const) {
    const only = winston.format((info) => (logFileOf(info.module) === name ? info : false));
    const t = new winston.transports.File({
      filename: `${dir}/${name}.log`,
      maxsize: maxSizeMb * 1024 * 1024,
      maxFiles,
      tailable: true,
      format: winston.format.combine(only(), winston.format.timestamp(), winston.format.json()),
    });
    root.add(t);
    fileTransports.push(t);
  }
}

/**
 * Logs a recurring error — a lost Redis connection that every consumer reports on each retry,
 * ten times a second — once, then at most once per `everyMs` with how many were left out, so
 * an outage is visible without flooding the log.
 */
export function throttledError(log: Logger, message: string, everyMs = 10_000): (err: Error, fields?: Record<string, unknown>) => void {
  let lastAt = 0;
  let suppressed = 0;
  return (err, fields = {}) => {
    const now = Date.now();
    if (now - lastAt < everyMs) {
      suppressed++;
      return;
    }
    log.error(message, { ...fields, error: err.message, ...(suppressed > 0 ? { repeated: suppressed } : {}) });
    lastAt = now;
    suppressed = 0;
  };
}
