import type { Knex } from 'knex';

/**
 * Sessions, pages and images. PostgreSQL is the crawl's system of record: a URL is claimed by
 * inserting its row as `pending` (the unique key makes each URL once per session), and the row
 * is finished by the job that fetched it. Redis only carries jobs, so it can be lost and rebuilt.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('crawl_sessions', (t) => {
    t.uuid('id').primary();
    t.string('status', 16).notNullable(); // running | stopping | completed | stopped
    t.jsonb('start_urls').notNullable();
    t.jsonb('options').notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('finished_at', { useTz: true });
    t.integer('pages_claimed').notNullable().defaultTo(0); // page budget accounting
    t.string('redis_epoch', 64); // the Redis generation holding this session's jobs
    t.integer('pages_crawled').notNullable().defaultTo(0);
    t.integer('pages_failed').notNullable().defaultTo(0);
    t.integer('images_found').notNullable().defaultTo(0);
    t.integer('images_stored').notNullable().defaultTo(0);
    t.integer('images_failed').notNullable().defaultTo(0);
    t.integer('images_duplicate').notNullable().defaultTo(0);
    t.bigInteger('bytes_downloaded').notNullable().defaultTo(0);
    t.integer('retries').notNullable().defaultTo(0);
    t.integer('errors').notNullable().defaultTo(0);
    t.double('success_rate');
    t.text('last_error');
    t.timestamps(true, true);
    t.index(['started_at']);
    t.index(['status']);
  });

  await knex.schema.createTable('pages', (t) => {
    t.bigIncrements('id');
    t.uuid('session_id').notNullable().references('crawl_sessions.id').onDelete('CASCADE');
    t.string('kind', 12).notNullable(); // page | stylesheet
    t.string('url', 2048).notNullable();
    t.string('referrer', 2048);
    t.string('final_url', 2048);
    t.integer('depth').notNullable();
    t.integer('redirects').notNullable().defaultTo(0);
    t.string('status', 16).notNullable(); // pending | crawled | redirected | failed | skipped
    t.integer('http_status').notNullable().defaultTo(0);
    t.integer('images_found').notNullable().defaultTo(0);
    t.integer('links_found').notNullable().defaultTo(0);
    t.text('error');
    t.timestamps(true, true);
    t.unique(['session_id', 'url']);
  });
  await knex.raw("CREATE INDEX pages_pending ON pages (session_id, updated_at) WHERE status = 'pending'");

  await knex.schema.createTable('images', (t) => {
    t.bigIncrements('id');
    t.uuid('session_id').notNullable().references('crawl_sessions.id').onDelete('CASCADE');
    t.string('url', 2048).notNullable();
    t.string('page_url', 2048);
    t.string('discovered_via', 24);
    t.string('status', 16).notNullable(); // pending | stored | failed | skipped
    t.integer('http_status').notNullable().defaultTo(0);
    t.string('content_type', 255);
    t.string('filename', 255);
    t.string('file_path', 512);
    t.bigInteger('file_size');
    t.integer('width');
    t.integer('height');
    t.string('format', 16);
    t.specificType('sha256', 'char(64)');
    t.text('error');
    t.timestamps(true, true);
    t.unique(['session_id', 'url']);
    t.index(['url']);
    t.index(['created_at']);
    t.index(['sha256']);
    t.index(['session_id', 'status', 'id']);
    t.index(['format', 'id']);
  });
  await knex.raw("CREATE INDEX images_pending ON images (session_id, updated_at) WHERE status = 'pending'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('images');
  await knex.schema.dropTableIfExists('pages');
  await knex.schema.dropTableIfExists('crawl_sessions');
}
