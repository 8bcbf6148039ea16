import type { Knex } from 'knex';

/**
 * Bounded work per URL and per session (hostile sites):
 * - `reruns`: how often a URL's job ran again after its first run (BullMQ retries, stalls,
 *   re-queues by the sweeper). Kept in PostgreSQL so it survives lost jobs: a URL is fetched at
 *   most `worker.attempts` times in all, whatever the failure.
 * - `stylesheets_claimed`: external stylesheets count against their own per-session budget,
 *   as pages do against `pages_claimed`, so an endless `@import` chain ends.
 * - `links_dropped`, `srcset_dropped`: what a page's caps cut off, recorded on the page row.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('pages', (t) => {
    t.smallint('reruns').notNullable().defaultTo(0);
    t.integer('links_dropped').notNullable().defaultTo(0);
    t.integer('srcset_dropped').notNullable().defaultTo(0);
  });
  await knex.schema.alterTable('images', (t) => {
    t.smallint('reruns').notNullable().defaultTo(0);
  });
  await knex.schema.alterTable('crawl_sessions', (t) => {
    t.integer('stylesheets_claimed').notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('pages', (t) => t.dropColumns('reruns', 'links_dropped', 'srcset_dropped'));
  await knex.schema.alterTable('images', (t) => t.dropColumn('reruns'));
  await knex.schema.alterTable('crawl_sessions', (t) => t.dropColumn('stylesheets_claimed'));
}
