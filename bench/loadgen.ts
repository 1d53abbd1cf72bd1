/**
 * Runs a load generator (bench/rtmp-players.ts, bench/realtime-viewers.ts: JSON lines steady-start, steady-end,
 * result on stdout) as a child process, and reads THIS process's CPU between its steady-start and steady-end: for
 * benchmarks whose server runs in the bench process (bench/forward.ts, bench/realtime-fanout.ts).
 */
import { spawn } from 'node:child_process';

export interface LoadResult {
  /** This process's CPU over the load generator's steady window, % of one core. */
  cpuPct: number;
  /** The load generator's `result` line. */
  result: Record<string, unknown> | null;
}

export async function runLoadgen(root: string, script: string, args: string[], limitSeconds: number): Promise<LoadResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let c0: NodeJS.CpuUsage | null = null;
  let t0 = 0n;
  const out: LoadResult = { cpuPct: NaN, result: null };
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (o.event === 'steady-start') {
        c0 = process.cpuUsage();
        t0 = process.hrtime.bigint();
      } else if (o.event === 'steady-end' && c0) {
        const c = process.cpuUsage(c0);
        out.cpuPct = ((c.user + c.system) / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9)) * 100;
      } else if (o.event === 'result') out.result = o;
    }
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), limitSeconds * 1000);
  await new Promise((r) => child.once('exit', r));
  clearTimeout(killer);
  return out;
}
