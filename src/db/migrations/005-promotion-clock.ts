import type { Knex } from 'knex';

/**
 * When the new primary was promoted, by its own clock (read on it just before `pg_promote`):
 * the rescue after an asynchronous failover tells rows the old primary deleted from rows
 * written on the new primary by comparing with it, so an application host's clock skew cannot
 * make it delete new rows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('failover_events', (t) => {
    t.timestamp('promoted_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('failover_events', (t) => t.dropColumn('promoted_at'));
}
