// CPU and memory of other processes, from Linux /proc (0 elsewhere): the benchmark reports
// where the machine's time went, not only the crawler's share.
import fs from 'node:fs';

const USER_HZ = 100;

export interface CpuTimes {
  userS: number;
  sysS: number;
}

/** CPU seconds used so far by the processes `pids` (all their threads). */
export function processCpu(pids: number[]): CpuTimes {
  let user = 0;
  let sys = 0;
  for (const pid of pids) {
    const t = statOf(pid);
    if (t) {
      user += t.utime;
      sys += t.stime;
    }
  }
  return { userS: user / USER_HZ, sysS: sys / USER_HZ };
}

/** CPU seconds (user + system) used so far by the processes `pids`. */
export function processCpuS(pids: number[]): number {
  const { userS, sysS } = processCpu(pids);
  return userS + sysS;
}

/** CPU seconds used so far by every process named `comm` on this machine (e.g. postgres). */
export function cpuSByName(comm: string): number {
  let ticks = 0;
  for (const pid of fs.existsSync('/proc') ? fs.readdirSync('/proc') : []) {
    if (!/^\d+$/.test(pid)) continue;
    const t = statOf(Number(pid));
    if (t?.comm === comm) ticks += t.utime + t.stime;
  }
  return ticks / USER_HZ;
}

/** The peak resident set size of a running process (the kernel's high-water mark), in bytes. */
export function peakRssBytes(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function statOf(pid: number): { comm: string; utime: number; stime: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), utime: Number(fields[11]), stime: Number(fields[12]) };
  } catch {
    return undefined; // the process ended meanwhile
  }
}
