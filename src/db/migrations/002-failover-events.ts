import type { Knex } from 'knex';

/** Failover history (SPEC §3): recorded in the node that became primary. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('failover_events', (t) => {
    t.bigIncrements('id');
    t.integer('term').notNullable();
    t.string('from_node', 64);
    t.string('to_node', 64).notNullable();
    t.text('reason').notNullable();
    t.boolean('automatic').notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true }).notNullable();
    t.integer('duration_ms').notNullable();
    t.string('outcome', 16).notNullable(); // success | failed
    t.text('error');
    t.index(['started_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('failover_events');
}
