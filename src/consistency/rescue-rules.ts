/**
 * The rule a rescue follows when the old primary and the new one hold different versions of
 * the same row (same natural key). Pure, so it is tested on its own and documented once:
 *
 * 1. A row only the old primary has is inserted (it was committed there and never replicated).
 * 2. Both have it: the version further along wins — a stored image over a failed or pending
 *    one, a finished page over a pending one, a completed or stopped session over a running
 *    one; at equal progress the later `updated_at` wins; at a tie the new primary's stays.
 * 3. A row only the new primary has is deleted only if it existed before the divergence
 *    (created before the failover) in a table the application deletes from (images, pages):
 *    then the old primary deleted it after the standby last heard from it. Rows created on the
 *    new primary after the failover are never touched. Without a recorded failover nothing is
 *    deleted.
 */

export type Row = Record<string, unknown>;

const PROGRESS: Record<string, Record<string, number>> = {
  images: { pending: 0, skipped: 1, failed: 1, stored: 2 },
  pages: { pending: 0, skipped: 1, failed: 1, redirected: 1, crawled: 1 },
  crawl_sessions: { running: 0, stopping: 1, completed: 2, stopped: 2 },
};

export function progress(table: string, row: Row): number {
  return PROGRESS[table]?.[String(row.status)] ?? 0;
}

/** Rows equal in everything but the id (which the two nodes' sequences assigned independently). */
export function sameContent(a: Row, b: Row): boolean {
  // Both come from to_jsonb() of the same table definition: columns and jsonb keys in one order.
  const strip = ({ id: _id, ...rest }: Row) => JSON.stringify(rest);
  return strip(a) === strip(b);
}

export type RescueDecision = 'insert' | 'update' | 'keep';

/** What to do with a row the old primary holds, given the new primary's version (if any). */
export function decide(table: string, old: Row, current: Row | undefined): RescueDecision {
  if (!current) return 'insert';
  if (table === 'failover_events' || sameContent(old, current)) return 'keep';
  const po = progress(table, old);
  const pc = progress(table, current);
  if (po !== pc) return po > pc ? 'update' : 'keep';
  const to = Date.parse(String(old.updated_at ?? ''));
  const tc = Date.parse(String(current.updated_at ?? ''));
  return Number.isFinite(to) && Number.isFinite(tc) && to > tc ? 'update' : 'keep';
}

/** Whether a row only the new primary holds was deleted on the old one (rule 3). */
export function deletedOnOld(current: Row, divergedAt: Date | null, deletable: boolean): boolean {
  if (!deletable || !divergedAt) return false;
  const created = Date.parse(String(current.created_at ?? ''));
  return Number.isFinite(created) && created < divergedAt.getTime();
}
