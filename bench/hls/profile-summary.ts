/**
 * Summarise a V8 .cpuprofile (from `node --cpu-prof`): self and inclusive time per function.
 *
 *   npx tsx bench/hls/profile-summary.ts <file.cpuprofile> [--top 25]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { frameLabel, loadProfile, type ProfileNode } from '../cpuprofile';

export interface FunctionTime {
  name: string;
  selfMs: number;
  totalMs: number;
  selfPct: number;
  totalPct: number;
}

const label = (n: ProfileNode) => frameLabel(n.callFrame);

/** Self and inclusive ms per function label, sorted by self time. */
export function summarizeProfile(file: string): { totalMs: number; idleMs: number; functions: FunctionTime[] } {
  const { p, byId, parent } = loadProfile(file);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    all += us;
    if (n.callFrame.functionName === '(idle)') idle += us;
    const l = label(n);
    self.set(l, (self.get(l) ?? 0) + us);
    // Inclusive: once per distinct label on the stack (recursion counted once).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const lc = label(byId.get(cur)!);
      if (seen.has(lc)) continue;
      seen.add(lc);
      total.set(lc, (total.get(lc) ?? 0) + us);
    }
  }
  const busy = Math.max(1, all - idle);
  const functions = [...self.keys()]
    .map((name) => ({
      name,
      selfMs: (self.get(name) ?? 0) / 1000,
      totalMs: (total.get(name) ?? 0) / 1000,
      selfPct: ((self.get(name) ?? 0) / busy) * 100,
      totalPct: ((total.get(name) ?? 0) / busy) * 100,
    }))
    .sort((a, b) => b.selfMs - a.selfMs);
  // Functions that only appear as callers (no self time) still have an inclusive time.
  for (const [name, us] of total) {
    if (!self.has(name)) functions.push({ name, selfMs: 0, totalMs: us / 1000, selfPct: 0, totalPct: (us / busy) * 100 });
  }
  return { totalMs: all / 1000, idleMs: idle / 1000, functions };
}

export function profileReport(file: string, top = 20, focus: RegExp = /server\//): string {
  const s = summarizeProfile(file);
  const busy = s.totalMs - s.idleMs;
  const lines = [
    `profile ${path.basename(file)}: ${(s.totalMs / 1000).toFixed(1)} s sampled, busy ${(busy / 1000).toFixed(1)} s (${((busy / s.totalMs) * 100).toFixed(0)} %)`,
    '',
    `| top self time | self % of busy | inclusive % |`,
    '| --- | --- | --- |',
    ...s.functions
      .filter((f) => f.name !== '(idle)' && f.selfMs > 0)
      .slice(0, top)
      .map((f) => `| ${f.name} | ${f.selfPct.toFixed(1)} | ${f.totalPct.toFixed(1)} |`),
    '',
    `| server function (inclusive) | inclusive % of busy | self % |`,
    '| --- | --- | --- |',
    ...s.functions
      .filter((f) => focus.test(f.name))
      .sort((a, b) => b.totalMs - a.totalMs)
      .slice(0, top)
      .map((f) => `| ${f.name} | ${f.totalPct.toFixed(1)} | ${f.selfPct.toFixed(1)} |`),
  ];
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  for (const f of positionals) console.log(`${profileReport(f, Number(values.top))}\n`);
}
