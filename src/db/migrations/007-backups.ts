import type { Knex } from 'knex';

/** Every backup, verification and restore test: what, when, how big, and how it ended. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('backups', (t) => {
    t.bigIncrements('id');
    t.string('kind', 16).notNullable(); // full | diff | incr | verify
    t.string('status', 16).notNullable(); // running | ok | failed
    t.string('trigger', 16).notNullable(); // schedule | cli | api
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('finished_at', { useTz: true });
    t.string('label', 64); // pgBackRest's backup label
    t.string('files_snapshot', 64); // restic's snapshot id
    t.string('source_node', 64); // the node the database files were copied from
    t.bigInteger('database_bytes');
    t.bigInteger('repository_bytes'); // what the database backup added to the repository
    t.bigInteger('files_added_bytes'); // what the files snapshot added
    t.jsonb('details').notNullable().defaultTo('{}');
    t.text('error');
    t.index(['kind', 'status', 'finished_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('backups');
}
