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
