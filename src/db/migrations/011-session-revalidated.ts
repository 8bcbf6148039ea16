import type { Knex } from 'knex';

/** How many of a session's images a re-crawl kept by a 304 (stored without a download). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('crawl_sessions', (t) => {
    t.integer('images_revalidated').notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('crawl_sessions', (t) => {
    t.dropColumn('images_revalidated');
  });
}
