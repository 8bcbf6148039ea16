import { parseExpression } from 'cron-parser';

/**
 * Pure decisions about backup schedules. A kind is overdue when a scheduled run came and went
 * and the one before it had no good backup either: one late or failed run is not an alert, two
 * in a row are (the last good backup is older than the schedule allows).
 */
export function overdueSince(cron: string, lastGood: Date | null, watchedSince: Date, now: Date): Date | null {
  const it = parseExpression(cron, { currentDate: now });
  it.prev(); // the run that should just have happened
  const before = it.prev().toDate(); // and the one before it
  const reference = lastGood ?? watchedSince;
  return reference < before ? before : null;
}

/** Whether a cron string is one the scheduler can run (the error message when not). */
export function cronError(cron: string): string | null {
  try {
    parseExpression(cron);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
