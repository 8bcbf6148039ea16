// CPU seconds of other processes, from Linux /proc (0 elsewhere): the benchmark reports where
// the machine's time went, not only the crawler's share.
import fs from 'node:fs';

const USER_HZ = 100;

/** CPU seconds (user + system) used so far by the processes `pids`. */
export function processCpuS(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (ticksOf(pid)?.ticks ?? 0), 0) / USER_HZ;
}

/** CPU seconds used so far by every process named `comm` on this machine (e.g. postgres). */
export function cpuSByName(comm: string): number {
  let ticks = 0;
  for (const pid of fs.existsSync('/proc') ? fs.readdirSync('/proc') : []) {
    if (!/^\d+$/.test(pid)) continue;
    const t = ticksOf(Number(pid));
    if (t?.comm === comm) ticks += t.ticks;
  }
  return ticks / USER_HZ;
}

function ticksOf(pid: number): { comm: string; ticks: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), ticks: Number(fields[11]) + Number(fields[12]) }; // utime, stime
  } catch {
    return undefined; // the process ended meanwhile
  }
}
