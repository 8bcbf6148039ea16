import { parseArgs, ParseArgsConfig } from 'node:util';

/** A usage mistake on the command line: printed with the command's help, exit code 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export const GLOBAL_OPTIONS = {
  config: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export function parse<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function intOption(value: string | undefined, name: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${value}"`);
  return n;
}

/** --concurrency N: N image fetches at once, and a quarter as many page fetches (at least 2). */
export function workerConcurrency(n: number): { downloadConcurrency: number; crawlConcurrency: number } {
  return { downloadConcurrency: n, crawlConcurrency: Math.max(2, Math.ceil(n / 4)) };
}

/** Interactive commands log warnings only, unless --verbose or LOG_LEVEL says otherwise. */
export function quietLogs(verbose: boolean | undefined): { log_level?: string } {
  return verbose || process.env.LOG_LEVEL ? {} : { log_level: 'warn' };
}
