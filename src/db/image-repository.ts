import path from 'node:path';
import type { Knex } from 'knex';
import { BatchWriter } from './batch-writer';

export type ImageStatus = 'pending' | 'stored' | 'failed' | 'skipped';

export interface ImageRecord {
  session_id: string;
  url: string;
  page_url: string | null;
  discovered_via: string | null;
  status: ImageStatus;
  http_status: number;
  content_type: string | null;
  filename: string | null;
  file_path: string | null;
  file_size: number | null;
  width: number | null;
  height: number | null;
  format: string | null;
  sha256: string | null;
  error: string | null;
  /** What image processors added (phash…); absent or null when none did. */
  metadata?: Record<string, string | number | boolean | null> | null;
  /** Validators of the stored answer, for a later re-crawl's conditional request. */
  etag?: string | null;
  last_modified?: string | null;
  /** Stored by a re-crawl's 304: the earlier session's file, not downloaded again. */
  revalidated?: boolean;
}

export interface ImageRow extends ImageRecord {
  id: number;
  created_at: Date;
  updated_at: Date;
}

export interface ImageFilter {
  sessionId?: string;
  format?: string;
  status?: ImageStatus;
  minSize?: number;
  /** Every row of one content (the URLs and pages an image was found at). */
  sha256?: string;
  /** Keyset pagination: rows with id greater than this. */
  afterId?: number;
  /** Keyset pagination backwards (newest first): rows with id smaller than this. */
  beforeId?: number;
}

/** Columns an outcome sets; where and how the URL was found stays as claimed. */
const OUTCOME_COLUMNS = ['status', 'http_status', 'content_type', 'filename', 'file_path', 'file_size', 'width', 'height', 'format', 'sha256', 'error', 'metadata', 'etag', 'last_modified', 'revalidated', 'updated_at'] as (keyof ImageRecord)[];

/** The `images` table. Writes are batched (group commit) and idempotent per (session, url). */
export class ImageRepository {
  private readonly writer: BatchWriter<ImageRecord>;

  /** @param reader where listings and single reads go (a standby when so configured). */
  constructor(private readonly knex: Knex, private readonly reader: Knex = knex) {
    this.writer = new BatchWriter((rows) => this.upsert(rows));
  }

  /** Resolves once the row is committed. A stored row is never downgraded to failed by a late retry. */
  record(row: ImageRecord): Promise<void> {
    return this.writer.add(row);
  }

  async drain(): Promise<void> {
    await this.writer.drain();
  }

  private async upsert(rows: ImageRecord[]): Promise<void> {
    const unique = new Map<string, ImageRecord>();
    for (const r of rows) {
      const key = `${r.session_id}\n${r.url}`;
      const prev = unique.get(key);
      if (!prev || prev.status !== 'stored') unique.set(key, r);
    }
    await this.knex('images')
      .insert([...unique.values()])
      .onConflict(['session_id', 'url'])
      .merge(OUTCOME_COLUMNS)
      .where('images.status', '<>', 'stored');
  }

  async list(filter: ImageFilter, limit: number, offset = 0, newestFirst = false): Promise<ImageRow[]> {
    return applyFilter(this.reader<ImageRow>('images').select('*'), filter)
      .orderBy('id', newestFirst ? 'desc' : 'asc')
      .limit(limit)
      .offset(offset);
  }

  async count(filter: ImageFilter): Promise<number> {
    const [{ count }] = await applyFilter(this.reader('images').count<{ count: string }[]>({ count: '*' }), filter);
    return Number(count);
  }

  /** A URL's stored row in an earlier session (what a re-crawl revalidates), or undefined. */
  async storedIn(sessionId: string, url: string): Promise<ImageRow | undefined> {
    // By (session_id, url) alone, so the unique index answers: with status in the condition the
    // planner may take (session_id, status, id) and read every stored row of the session.
    const row = await this.knex<ImageRow>('images').where({ session_id: sessionId, url }).first();
    return row?.status === 'stored' ? row : undefined;
  }

  async get(id: number): Promise<ImageRow | undefined> {
    return this.reader<ImageRow>('images').where({ id }).first();
  }

  /**
   * Images whose perceptual hash (metadata.phash, 16 hex digits) is within `maxDistance` bits of
   * image `id`'s, nearest first, with their `distance`; null when image `id` has none. A scan of
   * the hashed rows: fine for a few million, an index (bktree) beyond.
   */
  async similar(id: number, maxDistance: number, limit: number, sessionId?: string): Promise<(ImageRow & { distance: number })[] | null> {
    const hashOf = (table: string) => `('x' || (${table}.metadata->>'phash'))::bit(64)`;
    const valid = (table: string) => `${table}.metadata->>'phash' ~ '^[0-9a-f]{16}$'`;
    const me = await this.reader('images').where({ id }).whereRaw(valid('images')).first(this.reader.raw(`${hashOf('images')}::text AS h`));
    if (!me) return null;
    const distance = `bit_count(${hashOf('images')} # ?::bit(64))`;
    return this.reader('images')
      .select('*', this.reader.raw(`${distance}::int AS distance`, [me.h]))
      .whereNot({ id })
      .modify((q) => (sessionId ? q.where({ session_id: sessionId }) : q))
      .whereRaw(valid('images'))
      .whereRaw(`${distance} <= ?`, [me.h, maxDistance])
      .orderBy([{ column: 'distance' }, { column: 'id' }])
      .limit(limit);
  }

  /** Deletes one row; returns it. Whether its file may go is `fileInUse`'s question, asked by the store. */
  async delete(id: number): Promise<ImageRow | undefined> {
    const [row] = await this.knex<ImageRow>('images').where({ id }).del().returning('*');
    return row;
  }

  /** Whether any row still uses a stored file. */
  async fileInUse(relativePath: string): Promise<boolean> {
    // By sha256 too: that column is indexed, file_path is not.
    const sha256 = path.basename(relativePath).split('.')[0];
    return (await this.knex('images').where({ sha256, file_path: relativePath }).first('id')) !== undefined;
  }

  /**
   * A row recorded `stored` whose file a concurrent DELETE removed goes back to `pending`, so
   * the retry of its job stores the file again (the upsert never overwrites a stored row).
   */
  async unstore(sessionId: string, url: string, relativePath: string): Promise<void> {
    await this.knex('images')
      .where({ session_id: sessionId, url, status: 'stored', file_path: relativePath })
      .update({ status: 'pending', file_path: null, filename: null, sha256: null, error: 'its file was removed by a concurrent delete; storing it again' });
  }
}

function applyFilter<Q extends Knex.QueryBuilder>(q: Q, filter: ImageFilter): Q {
  if (filter.sessionId) q.where('session_id', filter.sessionId);
  if (filter.format) q.where('format', filter.format);
  if (filter.status) q.where('status', filter.status);
  if (filter.minSize !== undefined) q.where('file_size', '>=', filter.minSize);
  if (filter.sha256) q.where('sha256', filter.sha256);
  if (filter.afterId !== undefined) q.where('id', '>', filter.afterId);
  if (filter.beforeId !== undefined) q.where('id', '<', filter.beforeId);
  return q;
}
