import type { Knex } from 'knex';
import { BatchWriter } from './batch-writer';

export type PageStatus = 'pending' | 'crawled' | 'redirected' | 'failed' | 'skipped';

/** The outcome of fetching a page or stylesheet (its row was inserted when the URL was claimed). */
export interface PageRecord {
  session_id: string;
  kind: 'page' | 'stylesheet';
  url: string;
  final_url: string | null;
  depth: number;
  status: PageStatus;
  http_status: number;
  images_found: number;
  links_found: number;
  /** Links past crawler.max_links_per_page, not followed. */
  links_dropped: number;
  /** srcset candidates past crawler.max_srcset_candidates, not downloaded. */
  srcset_dropped: number;
  error: string | null;
}

/** The `pages` table: every page and stylesheet URL of a session and its outcome; failures are visible, never dropped. */
export class PageRepository {
  private readonly writer: BatchWriter<PageRecord>;

  constructor(private readonly knex: Knex) {
    this.writer = new BatchWriter((rows) => this.upsert(rows));
  }

  record(row: PageRecord): Promise<void> {
    return this.writer.add(row);
  }

  async drain(): Promise<void> {
    await this.writer.drain();
  }

  private async upsert(rows: PageRecord[]): Promise<void> {
    const unique = new Map(rows.map((r) => [`${r.session_id}\n${r.url}`, r]));
    await this.knex('pages')
      .insert([...unique.values()])
      .onConflict(['session_id', 'url'])
      .merge(['final_url', 'status', 'http_status', 'images_found', 'links_found', 'links_dropped', 'srcset_dropped', 'error', 'updated_at'] as (keyof PageRecord)[])
      .where('pages.status', '<>', 'crawled');
  }

  async failures(sessionId: string, limit: number): Promise<Pick<PageRecord, 'url' | 'http_status' | 'error'>[]> {
    return this.knex('pages')
      .select('url', 'http_status', 'error')
      .where({ session_id: sessionId, status: 'failed' })
      .orderBy('id', 'desc')
      .limit(limit);
  }
}
