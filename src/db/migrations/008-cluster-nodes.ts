import type { Knex } from 'knex';

/**
 * The nodes added to the cluster (`ha add-node`), kept in the database itself so every host
 * sees them (replication carries the table): a host whose config lacks one is told so.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('cluster_nodes', (t) => {
    t.string('name', 64).primary();
    t.text('url').notNullable(); // password masked: each host's config holds its own credentials
    t.integer('priority').notNullable();
    t.text('data_dir');
    t.timestamp('added_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.string('added_by', 128).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('cluster_nodes');
}
