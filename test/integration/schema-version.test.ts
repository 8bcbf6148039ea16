import { expect } from 'chai';
import knexFactory from 'knex';
import { ConfigError } from '../../src/errors';
import { prepareDatabase } from '../../src/runtime';
import { testConfig } from '../support/test-env';

describe('a host on an older version meets a schema another host upgraded', function () {
  this.timeout(60_000);
  const name = `image_crawler_schema_${process.pid}_${Date.now()}`;
  const admin = knexFactory({ client: 'pg', connection: 'postgres://postgres@127.0.0.1:5432/postgres', pool: { min: 0, max: 1 } });
  after(async () => {
    await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.destroy();
  });

  it('refuses to start with a message that says to upgrade, not that migrations are "corrupt"', async () => {
    const config = testConfig({ database: { url: `postgres://postgres@127.0.0.1:5432/${name}`, create_if_missing: true } });
    expect(await prepareDatabase(config)).to.include('001-initial-schema');
    const db = knexFactory({ client: 'pg', connection: config.database.url, pool: { min: 0, max: 1 } });
    try {
      await db('knex_migrations').insert({ name: '999-from-a-newer-version', batch: 99, migration_time: new Date() });
    } finally {
      await db.destroy();
    }
    const err = await prepareDatabase(config).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).to.be.instanceOf(ConfigError);
    expect(err?.message).to.match(/schema is newer than this version of image-crawler \(it has 999-from-a-newer-version.*upgrade image-crawler on this host/);
  });
});
