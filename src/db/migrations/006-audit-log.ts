import type { Knex } from 'knex';

/** Who changed what, from where, and how it ended: every mutating action through the API, console or CLI. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.string('actor', 128).notNullable(); // token name, or cli:<os user>
    t.string('role', 16).notNullable();
    t.string('ip', 64);
    t.string('action', 128).notNullable();
    t.text('target');
    t.jsonb('params').notNullable().defaultTo('{}');
    t.string('outcome', 64).notNullable();
    t.index(['at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('audit_log');
}
