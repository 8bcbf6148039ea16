import type { Knex } from 'knex';

/**
 * The crawl frontier, kept in PostgreSQL: a URL is claimed by inserting its `pages` or `images`
 * row as `pending`; the (session, url) unique key makes the claim atomic across every worker on
 * every host, and durable — if Redis loses its queues, pending rows are enqueued again.
 */

export type DocumentKind = 'page' | 'stylesheet';

export interface DocumentClaim {
  kind: DocumentKind;
  url: string;
  depth: number;
  /** Redirects followed to reach this URL. */
  redirects?: number;
}

/** How many pages and stylesheets a session may claim in all (0 = no limit). */
export interface DocumentBudget {
  pages: number;
  stylesheets: number;
}

export interface ImageClaim {
  url: string;
  via: string;
  /** Where it was found when not the claiming page (an image sitemap names each image's page). */
  pageUrl?: string;
}

export interface PendingDocument extends DocumentClaim {
  referrer: string | null;
}

export interface PendingImage extends Omit<ImageClaim, 'pageUrl'> {
  pageUrl: string | null;
}

/** Exact totals of a session, counted from its rows. */
export interface SessionTotals {
  pages_crawled: number;
  pages_failed: number;
  images_found: number;
  images_stored: number;
  images_failed: number;
  images_duplicate: number;
  images_revalidated: number;
  bytes_downloaded: number;
}

export class FrontierRepository {
  constructor(private readonly knex: Knex) {}

  /** Claims image URLs found on `pageUrl`; returns the ones new to the session. */
  async claimImages(sessionId: string, pageUrl: string | null, claims: ImageClaim[]): Promise<ImageClaim[]> {
    if (claims.length === 0) return [];
    const rows = uniqueBy(claims).map((c) => ({ session_id: sessionId, url: c.url, page_url: c.pageUrl ?? pageUrl, discovered_via: c.via, status: 'pending' }));
    const inserted: { url: string }[] = await this.knex('images').insert(rows).onConflict(['session_id', 'url']).ignore().returning(['url']);
    const fresh = new Set(inserted.map((r) => r.url));
    return claims.filter((c) => fresh.delete(c.url));
  }

  /**
   * Claims pages and stylesheets found from `referrer`; returns the new ones. New pages and new
   * stylesheets count against their session budgets (0 = none): those past it are recorded as
   * skipped, not crawled.
   */
  async claimDocuments(sessionId: string, referrer: string | null, claims: DocumentClaim[], budget: DocumentBudget): Promise<DocumentClaim[]> {
    if (claims.length === 0) return [];
    const rows = uniqueBy(claims).map((c) => ({
      session_id: sessionId,
      kind: c.kind,
      url: c.url,
      referrer,
      depth: c.depth,
      redirects: c.redirects ?? 0,
      status: 'pending',
    }));
    // One statement: insert what is new and count it against the budgets, so the session row is
    // locked only for the statement itself — and not at all when nothing is new (most pages link
    // only to pages already claimed: every claim would otherwise queue on that row).
    const k = this.knex;
    const newOf = (kind: DocumentKind) => `(SELECT count(*) FROM ins WHERE kind = '${kind}')`;
    const inserted: ClaimedDocument[] = await k
      .with('ins', k('pages').insert(rows).onConflict(['session_id', 'url']).ignore().returning(['id', 'url', 'kind']))
      .with(
        'budget',
        k('crawl_sessions')
          .where({ id: sessionId })
          .whereRaw('EXISTS (SELECT 1 FROM ins)')
          .update({
            pages_claimed: k.raw(`pages_claimed + ${newOf('page')}`),
            stylesheets_claimed: k.raw(`stylesheets_claimed + ${newOf('stylesheet')}`),
          })
          .returning(['pages_claimed', 'stylesheets_claimed']),
      )
      .select('ins.id', 'ins.url', 'ins.kind', 'budget.pages_claimed', 'budget.stylesheets_claimed')
      .from('ins')
      .joinRaw('LEFT JOIN budget ON true');
    const excess = [...overBudget(inserted, 'page', budget.pages), ...overBudget(inserted, 'stylesheet', budget.stylesheets)];
    if (excess.length > 0) {
      await this.knex.transaction(async (trx) => {
        for (const { rows: over, kind, limit } of excess) {
          await trx('pages').whereIn('id', over.map((r) => r.id)).update({ status: 'skipped', error: `over the ${kind} budget of ${limit}` });
        }
        const cut = (kind: DocumentKind) => excess.find((e) => e.kind === kind)?.rows.length ?? 0;
        await trx('crawl_sessions')
          .where({ id: sessionId })
          .update({ pages_claimed: k.raw('pages_claimed - ?', [cut('page')]), stylesheets_claimed: k.raw('stylesheets_claimed - ?', [cut('stylesheet')]) });
      });
    }
    const skipped = new Set(excess.flatMap((e) => e.rows.map((r) => r.url)));
    const fresh = new Set(inserted.filter((r) => !skipped.has(r.url)).map((r) => r.url));
    return claims.filter((c) => fresh.delete(c.url));
  }

  /**
   * Records documents found from `referrer` that will not be fetched (an `@import` chain cut at
   * its depth limit), so the cut is visible; a URL the session already has is left alone.
   */
  async recordSkipped(sessionId: string, referrer: string | null, claims: DocumentClaim[], reason: string): Promise<void> {
    if (claims.length === 0) return;
    const rows = uniqueBy(claims).map((c) => ({ session_id: sessionId, kind: c.kind, url: c.url, referrer, depth: c.depth, status: 'skipped', error: reason }));
    await this.knex('pages').insert(rows).onConflict(['session_id', 'url']).ignore();
  }

  /**
   * One more run of a pending URL (a retry, a stall, a re-queue) counted in its row, or one taken
   * back (`by` -1). Returns the new count, or null when the URL is no longer pending.
   */
  async countRerun(table: 'pages' | 'images', sessionId: string, url: string, by: 1 | -1 = 1): Promise<number | null> {
    const [row] = await this.knex(table)
      .where({ session_id: sessionId, url, status: 'pending' })
      .update({ reruns: this.knex.raw('greatest(reruns + ?, 0)', [by]), updated_at: this.knex.fn.now() })
      .returning(['reruns']);
    return row ? Number(row.reruns) : null;
  }

  async pendingCount(sessionId: string): Promise<number> {
    const [[pages], [images]] = await Promise.all([
      this.knex('pages').where({ session_id: sessionId, status: 'pending' }).count<{ count: string }[]>({ count: '*' }),
      this.knex('images').where({ session_id: sessionId, status: 'pending' }).count<{ count: string }[]>({ count: '*' }),
    ]);
    return Number(pages.count) + Number(images.count);
  }

  async hasPending(sessionId: string): Promise<boolean> {
    const row = await this.knex
      .select(
        this.knex.raw(
          "EXISTS (SELECT 1 FROM pages WHERE session_id = ? AND status = 'pending') OR EXISTS (SELECT 1 FROM images WHERE session_id = ? AND status = 'pending') AS pending",
          [sessionId, sessionId],
        ),
      )
      .first();
    return Boolean(row?.pending);
  }

  /**
   * Pending rows untouched for `idleMs` (all pending rows when 0), oldest first, at most `limit`
   * of each kind; they are touched now, so the next call moves on to others.
   */
  async takeIdle(sessionId: string, idleMs: number, limit: number): Promise<{ documents: PendingDocument[]; images: PendingImage[] }> {
    const idle = (table: string) =>
      this.knex(table)
        .select('id')
        .where({ session_id: sessionId, status: 'pending' })
        .andWhere('updated_at', '<=', this.knex.raw(`now() - (? * interval '1 millisecond')`, [idleMs]))
        .orderBy('updated_at')
        .limit(limit);
    const [docs, imgs] = await Promise.all([
      this.knex('pages').whereIn('id', idle('pages')).update({ updated_at: this.knex.fn.now() }).returning(['kind', 'url', 'depth', 'redirects', 'referrer']),
      this.knex('images').whereIn('id', idle('images')).update({ updated_at: this.knex.fn.now() }).returning(['url', 'discovered_via', 'page_url']),
    ]);
    return {
      documents: docs as PendingDocument[],
      images: (imgs as { url: string; discovered_via: string; page_url: string | null }[]).map((r) => ({ url: r.url, via: r.discovered_via, pageUrl: r.page_url })),
    };
  }

  async totals(sessionId: string): Promise<SessionTotals> {
    const { rows } = await this.knex.raw(
      `SELECT
         (SELECT count(*) FROM pages WHERE session_id = :id AND kind = 'page' AND status IN ('crawled', 'redirected')) AS pages_crawled,
         (SELECT count(*) FROM pages WHERE session_id = :id AND kind = 'page' AND status = 'failed') AS pages_failed,
         count(*) AS images_found,
         count(*) FILTER (WHERE status = 'stored') AS images_stored,
         count(*) FILTER (WHERE status = 'failed') AS images_failed,
         count(*) FILTER (WHERE status = 'stored') - count(DISTINCT sha256) AS images_duplicate,
         count(*) FILTER (WHERE status = 'stored' AND revalidated) AS images_revalidated,
         coalesce(sum(file_size) FILTER (WHERE status = 'stored' AND NOT revalidated), 0) AS bytes_downloaded
       FROM images WHERE session_id = :id`,
      { id: sessionId },
    );
    return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)])) as unknown as SessionTotals;
  }
}

interface ClaimedDocument {
  id: number;
  url: string;
  kind: DocumentKind;
  pages_claimed: number | null;
  stylesheets_claimed: number | null;
}

/** The newly claimed documents of `kind` past `limit` (0 = no limit): the last ones claimed. */
function overBudget(inserted: ClaimedDocument[], kind: DocumentKind, limit: number): { kind: DocumentKind; limit: number; rows: ClaimedDocument[] }[] {
  const mine = inserted.filter((r) => r.kind === kind);
  if (limit <= 0 || mine.length === 0) return [];
  const total = kind === 'page' ? mine[0].pages_claimed : mine[0].stylesheets_claimed;
  const over = Math.min((total ?? 0) - limit, mine.length);
  return over > 0 ? [{ kind, limit, rows: mine.slice(mine.length - over) }] : [];
}

function uniqueBy<T extends { url: string }>(items: T[]): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(item.url)) seen.set(item.url, item);
  return [...seen.values()];
}
