/**
 * /proc readings shared by the benchmarks (CPU time and RSS of a process, machine jiffies, kernel
 * threads, every process's CPU) and the niceness of their children. Linux only.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** Fields of /proc/<pid>/stat after the command name: f[0] is field 3 (state), f[1] the ppid, f[11] utime, f[12] stime. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime and stime of a process, in seconds; null when it is gone. */
export function cpuTimes(pid: number | 'self' | undefined): { user: number; sys: number } | null {
  if (!pid) return null;
  try {
    const f = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return { user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK };
  } catch {
    return null;
  }
}

/** utime + stime of a process, in seconds; null when it is gone. */
export function cpuSeconds(pid: number | 'self' | undefined): number | null {
  if (!pid) return null;
  try {
    const f = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** VmRSS in MiB; null when the process is gone. */
export function rssMiB(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export interface MachineTicks {
  /** Jiffies not idle, iowait or steal. */
  busy: number;
  /** The first eight fields of the cpu line (user .. steal). */
  total: number;
  softirq: number;
  steal: number;
  /** irq + softirq. */
  irq: number;
}

/** Busy and total jiffies of the whole machine (all cores); softirq, irq + softirq and steal on their own. */
export function machineTicks(): MachineTicks {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4] - f[7], total, softirq: f[6], steal: f[7], irq: f[5] + f[6] };
}

/** Machine CPU between two machineTicks() readings, in % of one core. */
export function machinePct(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  return ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * 100 * os.cpus().length;
}

/** softirq (kernel network processing, not in any process's utime/stime) and steal, % of one core. */
export function machineExtras(a: MachineTicks, b: MachineTicks): { softirq: number; steal: number } {
  const k = (100 * os.cpus().length) / Math.max(1, b.total - a.total);
  return { softirq: (b.softirq - a.softirq) * k, steal: (b.steal - a.steal) * k };
}

/** CPU used by the whole machine over `ms`, in % of one core. */
export async function machineBusyOver(ms: number): Promise<number> {
  const a = machineTicks();
  await new Promise((r) => setTimeout(r, ms));
  return machinePct(a, machineTicks());
}

export interface ProcTimes {
  comm: string;
  ppid: string;
  /** utime + stime, seconds. */
  cpu: number;
}

/** Name, parent and utime + stime of every process now, by PID (as in /proc). */
export function processTimes(): Map<string, ProcTimes> {
  const out = new Map<string, ProcTimes>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = statFields(stat);
      out.set(d, { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ppid: f[1], cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK });
    } catch {
      // gone
    }
  }
  return out;
}

/** utime + stime of each kernel thread (children of kthreadd: ksoftirqd, kworkers ...), in seconds. */
export function kernelThreadTimes(): Map<string, number> {
  const out = new Map<string, number>();
  for (const [pid, p] of processTimes()) if (p.ppid === '2') out.set(pid, p.cpu);
  return out;
}

/** CPU seconds of the kernel threads between two snapshots (threads that went away are left out). */
export function kernelThreadsDelta(a: Map<string, number>, b: Map<string, number>): number {
  let sum = 0;
  for (const [pid, t] of b) sum += t - (a.get(pid) ?? 0);
  return sum;
}

/** utime + stime of all kernel threads (children of kthreadd), seconds. */
export function kernelThreadsSeconds(): number {
  let sum = 0;
  for (const t of kernelThreadTimes().values()) sum += t;
  return sum;
}

/** The nice of a process's scheduler autogroup (its session's share of the CPU); throws without autogroups. */
export function setAutogroupNice(pid: number, niceness: number): void {
  writeFileSync(`/proc/${pid}/autogroup`, String(niceness));
}

/** The nice of a process and of its autogroup; throws when either fails. */
export function renice(pid: number, niceness: number): void {
  os.setPriority(pid, niceness);
  setAutogroupNice(pid, niceness);
}
