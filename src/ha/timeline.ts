/**
 * Timelines and forks, pure. Every promotion starts a new timeline; the new primary's history
 * file (`pg_wal/0000000N.history`) names, for each earlier timeline, the WAL position where it
 * branched off. A standby still on an earlier timeline that replayed past that position holds
 * WAL the new primary never had: it cannot follow the new timeline (PostgreSQL logs "new
 * timeline N forked off current database system timeline M before current recovery point") and
 * only a rewind onto the new primary mends it — Patroni's `_check_timeline_and_lsn`.
 */

/** One line of a history file: timeline `tli` ended (the next one began) at `switchpoint`. */
export interface TimelineSwitch {
  tli: number;
  switchpoint: bigint;
}

/** A position in the WAL ("16/B374D848") as a number, to compare. */
export function lsnToBigInt(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) throw new Error(`not a WAL position: ${JSON.stringify(lsn)}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/**
 * Parses a timeline history file: lines "parentTLI <tab> switchpoint <tab> reason"; comments and
 * blank lines skipped.
 */
export function parseTimelineHistory(text: string): TimelineSwitch[] {
  const out: TimelineSwitch[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [tli, lsn] = trimmed.split(/\s+/);
    if (!/^\d+$/.test(tli ?? '') || lsn === undefined) throw new Error(`not a timeline history line: ${JSON.stringify(line)}`);
    out.push({ tli: Number(tli), switchpoint: lsnToBigInt(lsn) });
  }
  return out;
}

export interface StandbyPosition {
  /** The timeline the standby replays (its last restartpoint's, or the one it receives). */
  timeline: number;
  /** pg_last_wal_replay_lsn(). */
  replayLsn: string;
}

/**
 * Whether a standby has forked off the primary's history: it is on an earlier timeline and
 * replayed past the point where that timeline ended, or on a timeline the primary's history does
 * not contain at all (a branch of its own). A standby on the primary's timeline has not.
 */
export function hasForked(standby: StandbyPosition, primaryTimeline: number, primaryHistory: TimelineSwitch[]): boolean {
  if (standby.timeline === primaryTimeline) return false;
  if (standby.timeline > primaryTimeline) return true;
  const ended = primaryHistory.find((s) => s.tli === standby.timeline);
  if (!ended) return true;
  return lsnToBigInt(standby.replayLsn) > ended.switchpoint;
}
