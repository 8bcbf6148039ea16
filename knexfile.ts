// knex CLI entry (`npx knex --knexfile knexfile.ts migrate:latest`); `image-crawler migrate` does the same.
import { loadConfig } from './src/config/load-config';
import { migrationSource } from './src/db/database';

const config = loadConfig();

export default {
  client: 'pg',
  connection: config.database.url,
  pool: { min: 0, max: config.database.pool_size },
  migrations: { migrationSource },
};
