import type { Knex } from 'knex';

/** What image-processor plugins add to an image (the built-in phash among them). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.jsonb('metadata');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (t) => {
    t.dropColumn('metadata');
  });
}
