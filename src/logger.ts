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
