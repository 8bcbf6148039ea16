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

/** One slice of a session's life: what finished in it. */
export interface TimelinePoint {
  /** Seconds since the session started (the slice's start). */
  t: number;
  pages: number;
  images: number;
  bytes: number;
}

/**
 * Pages crawled and images stored (with their bytes) per slice of the session's life, from
 * the rows' own times: the console's chart of a session, live or long finished. At most
 * `points` slices however long the crawl ran.
 */
export async function sessionTimeline(knex: Knex, sessionId: string, points = 120): Promise<{ sliceS: number; points: TimelinePoint[] }> {
  const session = await knex('crawl_sessions').where({ id: sessionId }).first('started_at', 'finished_at');
  if (!session) return { sliceS: 1, points: [] };
  const end = session.finished_at ? new Date(session.finished_at).getTime() : Date.now();
  const sliceS = Math.max(1, Math.ceil((end - new Date(session.started_at).getTime()) / 1000 / points));
  const { rows } = await knex.raw(
    `SELECT floor(extract(epoch FROM f.at - s.started_at) / ?)::int AS slice, sum(f.pages)::int AS pages, sum(f.images)::int AS images, sum(f.bytes)::bigint AS bytes
     FROM crawl_sessions s
     JOIN (
       SELECT updated_at AS at, 1 AS pages, 0 AS images, 0 AS bytes FROM pages WHERE session_id = ? AND status = 'crawled'
       UNION ALL
       SELECT updated_at, 0, 1, coalesce(file_size, 0) FROM images WHERE session_id = ? AND status = 'stored'
     ) f ON true
     WHERE s.id = ?
     GROUP BY slice ORDER BY slice`,
    [sliceS, sessionId, sessionId, sessionId],
  );
  return {
    sliceS,
    points: (rows as { slice: number; pages: number; images: number; bytes: string }[]).map((r) => ({ t: Math.max(0, r.slice) * sliceS, pages: r.pages, images: r.images, bytes: Number(r.bytes) })),
  };
}
