import type { Knex } from 'knex';

/** Failed URLs of one kind that failed for one reason. */
export interface FailureGroup {
  kind: 'page' | 'image';
  /** The error, with the URLs in it folded to `<url>` so one reason is one group. */
  reason: string;
  count: number;
  /** The first few URLs, in the order they were found. */
  urls: string[];
}

/**
 * Why a session's URLs failed: pages and images grouped by reason, largest group first. One
 * statement over both tables (each session's failed rows are found by its index).
 */
export async function failureGroups(knex: Knex, sessionId: string, samples = 5): Promise<FailureGroup[]> {
  // (`\\?`: a literal question mark for knex, which reads a bare one as a binding.)
  const reason = (table: string) =>
    `regexp_replace(coalesce(${table}.error, 'HTTP ' || ${table}.http_status), 'https\\?://[^\\s,;)"]+', '<url>', 'g')`;
  const { rows } = await knex.raw(
    `SELECT kind, reason, count(*)::int AS count, (array_agg(url ORDER BY id))[1:?] AS urls FROM (
       SELECT 'page' AS kind, id, url, ${reason('pages')} AS reason FROM pages WHERE session_id = ? AND status = 'failed'
       UNION ALL
       SELECT 'image', id, url, ${reason('images')} FROM images WHERE session_id = ? AND status = 'failed'
     ) f
     GROUP BY kind, reason
     ORDER BY count DESC, kind, reason`,
    [samples, sessionId, sessionId],
  );
  return rows as FailureGroup[];
}
