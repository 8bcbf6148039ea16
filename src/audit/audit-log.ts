import os from 'node:os';
import type { Knex } from 'knex';
import { createKnex } from '../db/database';
import { getLogger } from '../logger';

const log = getLogger('audit');

export interface AuditEntry {
  actor: string;
  role: string;
  ip: string | null;
  /** e.g. `POST /api/ha/failover`, or `cli stop`. */
  action: string;
  target: string | null;
  params: unknown;
  /** The HTTP status, or `ok` / `error: …` for the CLI. */
  outcome: string;
}

export interface AuditRow extends AuditEntry {
  id: number;
  at: Date;
}

/** Keys whose values never reach the log: tokens, passwords, secrets, passphrases. */
const SECRET = /token|password|passwd|secret|passphrase|authorization|credential/i;

/** `value` with every secret-looking field replaced, and userinfo cut from URLs in strings. */
export function redact(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET.test(k) ? '***' : redact(v)]));
  }
  return value;
}

/** Records one action; a failure to record is logged, never fails the action itself. */
export async function recordAudit(knex: Knex, entry: AuditEntry): Promise<void> {
  await knex('audit_log')
    .insert({ ...entry, params: JSON.stringify(redact(entry.params ?? {})), target: entry.target?.slice(0, 2000) ?? null })
    .catch((err: Error) => log.error('audit entry not recorded', { action: entry.action, actor: entry.actor, error: err.message }));
}

/** Records one action in the database at `url` (a command without a runtime: `ha failover`). */
export async function recordAuditAt(url: string, entry: AuditEntry): Promise<void> {
  const knex = createKnex({ url, poolSize: 1, connectionTimeoutS: 5 });
  try {
    await recordAudit(knex, entry);
  } finally {
    await knex.destroy();
  }
}

export async function listAudit(knex: Knex, limit: number): Promise<AuditRow[]> {
  return knex<AuditRow>('audit_log').orderBy('id', 'desc').limit(limit);
}

/** The actor of a command run from a shell. */
export function cliActor(): string {
  try {
    return `cli:${os.userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}
