/**
 * Stream creation: POST /api/streams throughput and latency with 1,000 and 10,000 streams already there, for this
 * checkout and (side by side, same run) for another commit, e.g. the last one with the JSON-file registry.
 *
 *   npx tsx bench/api/creates.ts [--existing 1000,10000] [--creates 1000] [--concurrency 1,8] [--before b49f5d0]
 *
 * Both servers start from the same DATA_DIR/streams.json with `existing` streams (the old registry's format; the
 * database registry imports it at start), run as their own process (`server/index.ts --api-only`, loopback), and
 * get `creates` creates from `concurrency` clients at once. The JSON registry refused more than 10,000 streams: at
 * "10,000" it is seeded with 10,000 - creates - 20 (the table shows what each really had). `--before` makes a git worktree of that commit under
 * bench/.cache (its node_modules linked to ours). Results: a table on stdout, JSON in bench/.cache/results/.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BENCH_ADMIN_TOKEN, operatorJson } from '../operator';
import { freePort, tcpOpen } from '../tools';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = path.join(ROOT, 'bench', '.cache');

const { values: opt } = parseArgs({
  options: {
    existing: { type: 'string', default: '1000,10000' },
    creates: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '1,8' },
    before: { type: 'string' },
  },
});
const list = (s: string) => s.split(',').map((x) => Number(x.trim())).filter((n) => Number.isInteger(n) && n >= 0);

/** A streams.json of the old registry with n streams (sha256 of a random secret each). */
function seed(dir: string, n: number): void {
  const streams = [];
  for (let i = 0; i < n; i++) {
    streams.push({
      id: `seed${i.toString(36).padStart(6, '0')}`,
      title: `seeded stream ${i}`,
      createdAt: new Date(Date.now() - i * 1000).toISOString(),
      keyHash: createHash('sha256').update(randomBytes(24)).digest('hex'),
    });
  }
  writeFileSync(path.join(dir, 'streams.json'), JSON.stringify({ streams }, null, 1));
}

function worktree(ref: string): string {
  const sha = execFileSync('git', ['rev-parse', '--short', ref], { cwd: ROOT }).toString().trim();
  const dir = path.join(CACHE, `tree-${sha}`);
  if (!existsSync(dir)) {
    mkdirSync(CACHE, { recursive: true });
    execFileSync('git', ['worktree', 'add', '--detach', dir, sha], { cwd: ROOT, stdio: 'ignore' });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  }
  return dir;
}

async function startServer(cwd: string, dataDir: string): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const rtmpPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts', '--api-only'], {
    cwd,
    env: { ...process.env, PORT: String(port), RTMP_PORT: String(rtmpPort), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', ADMIN_TOKEN: BENCH_ADMIN_TOKEN, MAX_STREAMS: '1000000' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 60_000;
  while (!(await tcpOpen(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server in ${cwd} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, base: `http://127.0.0.1:${port}` };
}

interface Row {
  code: string;
  existing: number;
  concurrency: number;
  creates: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
}

/** The JSON registry held 10,000 streams at most, whatever MAX_STREAMS says: it gets fewer seeded so its creates fit. */
const OLD_CAP = 10_000;

async function measure(code: string, cwd: string, wanted: number, creates: number, concurrency: number): Promise<Row> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'golive-bench-api-'));
  const existing = cwd === ROOT ? wanted : Math.min(wanted, OLD_CAP - creates - 20);
  seed(dataDir, existing);
  const { child, base } = await startServer(cwd, dataDir);
  try {
    // Warm up (JIT, first write) with a few creates not counted.
    for (let i = 0; i < 20; i++) await (await fetch(`${base}/api/streams`, { method: 'POST', headers: operatorJson, body: '{}' })).arrayBuffer();
    const times: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < creates) {
          next++;
          const t = performance.now();
          const res = await fetch(`${base}/api/streams`, { method: 'POST', headers: operatorJson, body: '{"title":"bench"}' });
          await res.arrayBuffer();
          if (res.status !== 201) throw new Error(`${code}: POST /api/streams ${res.status}`);
          times.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    times.sort((a, b) => a - b);
    const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
    return { code, existing, concurrency, creates, perSecond: Math.round(creates / seconds), p50: q(0.5), p99: q(0.99), max: times[times.length - 1] };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const trees: Array<[string, string]> = [['this checkout', ROOT]];
if (opt.before) trees.unshift([`before (${opt.before})`, worktree(opt.before)]);
const rows: Row[] = [];
for (const existing of list(opt.existing!)) {
  for (const concurrency of list(opt.concurrency!)) {
    for (const [code, cwd] of trees) {
      const row = await measure(code, cwd, existing, Number(opt.creates), concurrency);
      rows.push(row);
      console.log(`${row.code.padEnd(24)} existing ${String(row.existing).padStart(6)}  clients ${concurrency}  ${String(row.perSecond).padStart(6)}/s  p50 ${row.p50.toFixed(2)} ms  p99 ${row.p99.toFixed(2)} ms  max ${row.max.toFixed(1)} ms`);
    }
  }
}
console.log('\n| code | existing streams | clients | creates/s | p50 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.code} | ${r.existing} | ${r.concurrency} | ${r.perSecond} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.max.toFixed(1)} |`);
mkdirSync(path.join(CACHE, 'results'), { recursive: true });
writeFileSync(path.join(CACHE, 'results', `api-creates-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify(rows, null, 1));
