/**
 * Realtime fan-out benchmark (issue 17): the server's CPU with N realtime viewers (`/realtime/<id>`, fMP4 over
 * WebSockets) against N RTMP players of the same stream, in the same run, and the realtime viewers' delivery delay.
 *
 *   flock /tmp/bench.lock npm run bench:realtime -- [--viewers 100,500,1000] [--seconds 20] [--warmup 20]
 *
 * Our server runs in this process (its CPU is this process's, process.cpuUsage, read over each load generator's steady
 * window); one ffmpeg publishes the 30 s 720p 2.5 Mbit/s test file in a loop (`-c copy`); the viewers are
 * bench/realtime-viewers.ts and the players bench/rtmp-players.ts, each in a process of its own. N = 0 is the
 * publisher alone. Per viewer = (CPU at N − CPU at 0) / N. Goal: realtime ≤ 1.0× RTMP, p99 frame delivery < 50 ms.
 * Delay: realtime probes time each video fragment against its decode time; RTMP probes each audio and video message
 * against its timestamp (both above their best case in the window: see the two load generators).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startServer } from '../server/app';
import { loadConfig } from '../server/config';
import { createLogger } from '../server/log';
import { operatorHeaders, run, TEST_ADMIN_TOKEN, waitFor } from '../server/testing/harness';
import { runLoadgen, type LoadResult } from './loadgen';
import { encodeTestFile } from './tools';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MEDIA = path.join(ROOT, 'bench', '.cache', 'media', 'testsrc2-720p30-2500k-aac128k-30s.flv');

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '0,100,500,1000' },
    seconds: { type: 'string', default: '20' },
    settle: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '20' },
    rate: { type: 'string', default: '200' },
  },
});
const counts = values.viewers.split(',').map(Number);
const seconds = Number(values.seconds);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => console.error(`[bench:realtime] ${m}`);

/** A load generator against the server, with the bench's window settings. */
function loadgen(script: string, args: string[]): Promise<LoadResult> {
  return runLoadgen(ROOT, script, [...args, '--seconds', String(seconds), '--settle', values.settle, '--rate', values.rate], seconds + 120);
}

async function baseline(): Promise<number> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9)) * 100;
}

async function main() {
  if (!existsSync(MEDIA)) {
    log('encoding the 30 s 720p test file once ...');
    encodeTestFile(MEDIA, 44100, 300_000);
  }
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'golive-bench-rt-'));
  const config = loadConfig({
    PORT: '0',
    RTMP_PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
    RECORD: 'off',
    // Every viewer comes from 127.0.0.1 here.
    REALTIME_MAX_SOCKETS_PER_ADDRESS: '5000',
    HTTP_MAX_CONNECTIONS_PER_ADDRESS: '5000',
    RTMP_MAX_CONNECTIONS_PER_ADDRESS: '0',
  });
  const server = await startServer({ config, logger: createLogger('silent', false), withNext: false });
  const http = `http://127.0.0.1:${server.httpPort}`;
  const s = (await (await fetch(`${http}/api/streams`, { method: 'POST', headers: operatorHeaders(), body: JSON.stringify({ title: 'bench' }) })).json()) as { id: string; key: string };
  const pub = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', MEDIA, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${server.rtmpPort}/live/${s.key}`]);
  const rows: Array<{ n: number; rt: LoadResult; rtmp: LoadResult | null }> = [];
  let base = NaN;
  try {
    await waitFor('live', () => server.hub.isLive(s.id), 20000);
    log(`warm-up ${values.warmup} s`);
    await sleep(Number(values.warmup) * 1000);
    for (const n of counts) {
      if (n === 0) {
        base = await baseline();
        log(`N=0: server ${base.toFixed(2)} % of a core`);
        continue;
      }
      const rt = await loadgen('bench/realtime-viewers.ts', ['--url', `ws://127.0.0.1:${server.httpPort}/realtime/${s.id}`, '--viewers', String(n)]);
      log(`N=${n} realtime: server ${rt.cpuPct.toFixed(2)} % ${JSON.stringify(rt.result)}`);
      await sleep(2000);
      const rtmp = await loadgen('bench/rtmp-players.ts', ['--port', String(server.rtmpPort), '--name', s.id, '--players', String(n)]);
      log(`N=${n} RTMP: server ${rtmp.cpuPct.toFixed(2)} % ${JSON.stringify(rtmp.result)}`);
      await sleep(2000);
      rows.push({ n, rt, rtmp });
    }
  } finally {
    await pub.kill('SIGKILL');
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  const f = (v: unknown, d = 2) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '–');
  const delay = (r: Record<string, unknown> | null) => {
    const d = (r?.delayMs ?? {}) as Record<string, number | null>;
    return `${f(d.p50, 0)} / ${f(d.p99, 0)} / ${f(d.max, 0)}`;
  };
  const kbps = (r: Record<string, unknown> | null) => {
    if (!r) return '–';
    const k = r.kbpsMedian ?? (r.kbps as Record<string, number> | undefined)?.median;
    return f(k, 0);
  };
  console.log(`baseline (publisher only): ${f(base)} % of a core`);
  console.log('| N | server CPU, realtime (% of a core) | server CPU, RTMP | per viewer ÷ per player | realtime kbit/s median | RTMP kbit/s median | realtime delay p50 / p99 / max ms | RTMP delay p50 / p99 / max ms |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const ratio = (r.rt.cpuPct - base) / ((r.rtmp?.cpuPct ?? NaN) - base);
    console.log(`| ${r.n} | ${f(r.rt.cpuPct)} | ${f(r.rtmp?.cpuPct)} | ${f(ratio)} | ${kbps(r.rt.result)} | ${kbps(r.rtmp?.result ?? null)} | ${delay(r.rt.result)} | ${delay(r.rtmp?.result ?? null)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
