import type { Knex } from 'knex';

/** Results of consistency checks, and what each rescue after a failover copied from an old primary. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('consistency_checks', (t) => {
    t.bigIncrements('id');
    t.string('trigger', 16).notNullable(); // schedule | api | cli | failover | rejoin
    t.string('host', 64).notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.integer('duration_ms').notNullable();
    t.boolean('ok').notNullable();
    t.text('summary').notNullable();
    t.jsonb('result').notNullable();
    t.index(['started_at']);
  });
  await knex.schema.createTable('sync_rescues', (t) => {
    t.bigIncrements('id');
    t.string('node', 64).notNullable(); // the old primary rows were copied from
    t.string('primary_node', 64).notNullable();
    t.timestamp('diverged_at', { useTz: true });
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.integer('duration_ms').notNullable();
    t.integer('inserted').notNullable();
    t.integer('updated').notNullable();
    t.integer('deleted').notNullable();
    t.jsonb('details').notNullable();
    t.index(['started_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('sync_rescues');
  await knex.schema.dropTableIfExists('consistency_checks');
}
