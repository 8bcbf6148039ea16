import type { Knex } from 'knex';

/**
 * What a re-crawl (`--since SESSION`) asks with and what it found: each stored image's ETag and
 * Last-Modified, and whether its row was confirmed by a 304 instead of a download.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.string('etag', 512);
    t.string('last_modified', 64);
    t.boolean('revalidated').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.dropColumn('etag');
    t.dropColumn('last_modified');
    t.dropColumn('revalidated');
  });
}
