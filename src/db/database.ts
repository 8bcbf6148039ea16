import knexFactory, { Knex } from 'knex';
import pg from 'pg';
import { ConfigError } from '../errors';
import { getLogger } from '../logger';
import * as initialSchema from './migrations/001-initial-schema';
import * as failoverEvents from './migrations/002-failover-events';
import * as consistency from './migrations/003-consistency';
import * as boundedWork from './migrations/004-bounded-work';
import * as promotionClock from './migrations/005-promotion-clock';
import * as auditLog from './migrations/006-audit-log';
import * as backups from './migrations/007-backups';
import * as clusterNodes from './migrations/008-cluster-nodes';
import * as imageMetadata from './migrations/009-image-metadata';
import * as revalidation from './migrations/010-revalidation';
import * as sessionRevalidated from './migrations/011-session-revalidated';

const log = getLogger('database');

// int8 columns (ids, sizes) as numbers: they stay far below 2^53 here.
pg.types.setTypeParser(20, (v) => Number(v));

/** Migrations are imported, not globbed, so they run the same from src (tsx) and dist. */
const MIGRATIONS: Record<string, Knex.Migration> = {
  '001-initial-schema': initialSchema,
  '002-failover-events': failoverEvents,
  '003-consistency': consistency,
  '004-bounded-work': boundedWork,
  '005-promotion-clock': promotionClock,
  '006-audit-log': auditLog,
  '007-backups': backups,
  '008-cluster-nodes': clusterNodes,
  '009-image-metadata': imageMetadata,
  '010-revalidation': revalidation,
  '011-session-revalidated': sessionRevalidated,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS[name],
};

export interface DatabaseOptions {
  url: string;
  poolSize: number;
  connectionTimeoutS: number;
}

export function createKnex(opts: DatabaseOptions): Knex {
  return knexFactory({
    client: 'pg',
    connection: opts.url,
    pool: { min: 0, max: opts.poolSize },
    acquireConnectionTimeout: opts.connectionTimeoutS * 1000,
    migrations: { migrationSource },
    // knex prints pool errors to the console; the callers see and log the failures themselves.
    log: {
      warn: (m: unknown) => log.debug('knex', { message: String(m) }),
      error: (m: unknown) => log.debug('knex', { message: String(m) }),
      deprecate: (m: unknown) => log.debug('knex deprecation', { message: String(m) }),
      debug: () => undefined,
    },
  });
}

/** Creates the database named in `url` when it is missing (connecting to `postgres` to do so). */
export async function ensureDatabase(url: string, connectTimeoutMs = 30_000): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) return;
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.href, connectionTimeoutMillis: connectTimeoutMs });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created meanwhile by another process
      });
    }
  } finally {
    await client.end();
  }
}

export async function migrateLatest(knex: Knex): Promise<string[]> {
  await refuseNewerSchema(knex);
  const [, applied] = (await knex.migrate.latest()) as [number, string[]];
  return applied;
}

/**
 * A host still on an older version, restarted after another host upgraded the schema, must say
 * so plainly (knex would call the migration directory "corrupt").
 */
async function refuseNewerSchema(knex: Knex): Promise<void> {
  if (!(await knex.schema.hasTable('knex_migrations'))) return;
  const names: string[] = (await knex('knex_migrations').select('name')).map((r: { name: string }) => r.name);
  const unknown = names.filter((n) => !(n in MIGRATIONS));
  if (unknown.length > 0) {
    throw new ConfigError(
      `the database schema is newer than this version of image-crawler (it has ${unknown.join(', ')}, which this version does not know): upgrade image-crawler on this host to the version the other hosts run`,
    );
  }
}
