/**
 * Forward targets benchmark (issue 16): CPU per forward target at 2.5 Mbit/s, and the delay a target adds from our
 * hub to its socket. Our server runs in this process (its CPU is this process's, read with process.cpuUsage); one
 * ffmpeg publishes the 30 s 720p 2.5 Mbit/s test file in a loop (`-c copy`); one real nginx-rtmp takes N publishes
 * (one per target, each its own key), in its own process.
 *
 *   flock /tmp/bench.lock npx tsx bench/forward.ts [--targets 0,1,4,8] [--seconds 20] [--warmup 20]
 *
 * For each N: the N targets are added through the API, the run waits until all are live, lets them run `--settle`
 * seconds, then measures the server's CPU over `--seconds`. Per target = (CPU at N - CPU at 0) / N. The delay is, per
 * media packet sent to a target, the wall time from the packet's arrival at our server (MediaPacket.receivedAt) to
 * its bytes being handed to the target's socket (Date.now(), 1 ms resolution).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startServer } from '../server/app';
import { loadConfig } from '../server/config';
import { ForwardConnection } from '../server/forward/connection';
import { Forwarder, type ForwarderOptions } from '../server/forward/forwarder';
import { parseForwardUrl } from '../server/forward/url';
import { createLogger } from '../server/log';
import type { MediaPacket } from '../server/codec/flv';
import { operatorHeaders, run, TEST_ADMIN_TOKEN, waitFor } from '../server/testing/harness';
import { startNginxRtmp } from '../server/testing/nginx';
import { runLoadgen } from './loadgen';
import { encodeTestFile } from './tools';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MEDIA = path.join(ROOT, 'bench', '.cache', 'media', 'testsrc2-720p30-2500k-aac128k-30s.flv');

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: '0,1,4,8' },
    seconds: { type: 'string', default: '20' },
    settle: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '20' },
    /** 'no': skip the RTMP players comparison. */
    players: { type: 'string', default: 'yes' },
  },
});
const counts = values.targets.split(',').map(Number);
const seconds = Number(values.seconds);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => console.error(`[bench:forward] ${m}`);

// The delay from arrival to the target's socket, per packet sent: from MediaPacket.receivedAt to the socket write that
// carries the packet (the connection batches media writes, RTMP_WRITE_BATCH_MS).
const delays: number[] = [];
type SendFn = (p: MediaPacket, dts?: number) => void;
type ConnProto = { media: (...a: unknown[]) => void; socketWrite: (b: Buffer) => void };
const fwdProto = Forwarder.prototype as unknown as { send: SendFn };
const connProto = ForwardConnection.prototype as unknown as ConnProto;
const arrivals = new WeakMap<object, number[]>();
let sending: number | null = null;
const originalSend = fwdProto.send;
fwdProto.send = function (this: unknown, p: MediaPacket, dts?: number) {
  sending = p.receivedAt;
  try {
    originalSend.call(this, p, dts);
  } finally {
    sending = null;
  }
};
const originalMedia = connProto.media;
connProto.media = function (this: object, ...a: unknown[]) {
  if (sending !== null) {
    const list = arrivals.get(this) ?? [];
    list.push(sending);
    arrivals.set(this, list);
  }
  originalMedia.apply(this, a);
};
const originalWrite = connProto.socketWrite;
connProto.socketWrite = function (this: object, b: Buffer) {
  originalWrite.call(this, b);
  const list = arrivals.get(this);
  if (!list?.length) return;
  const now = Date.now();
  for (const t of list) delays.push(now - t);
  list.length = 0;
};

/** Server CPU (this process) while N RTMP players (bench/rtmp-players.ts, another process) play the stream. */
async function playersCpu(rtmpPort: number, name: string, n: number): Promise<number> {
  const args = ['--port', String(rtmpPort), '--name', name, '--players', String(n), '--seconds', String(seconds), '--settle', values.settle];
  return (await runLoadgen(ROOT, 'bench/rtmp-players.ts', args, seconds + 60)).cpuPct;
}

/** The options server/forward/setup.ts gives with the default settings. */
const DIRECT_OPTS: ForwarderOptions = { connectTimeoutMs: 10_000, maxBufferedBytes: 32 << 20, stallMs: 20_000, writeBatchMs: 33, tls: { allowSelfSigned: false }, minBackoffMs: 1000, maxBackoffMs: 30_000 };
const quiet = { info: () => undefined, warn: () => undefined };

function pct(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

async function main() {
  if (!existsSync(MEDIA)) {
    log('encoding the 30 s 720p test file once ...');
    encodeTestFile(MEDIA, 44100, 300_000);
  }
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'golive-bench-fwd-'));
  const config = loadConfig({ PORT: '0', RTMP_PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ADMIN_TOKEN: TEST_ADMIN_TOKEN, LOG_LEVEL: 'silent', RECORD: process.env.RECORD ?? 'off' });
  const server = await startServer({ config, logger: createLogger('silent', false), withNext: false });
  const http = `http://127.0.0.1:${server.httpPort}`;
  const nginx = await startNginxRtmp();
  const api = (method: string, p: string, body?: unknown) => fetch(`${http}${p}`, { method, headers: operatorHeaders(), body: body === undefined ? undefined : JSON.stringify(body) });
  const s = (await (await api('POST', '/api/streams', { title: 'bench' })).json()) as { id: string; key: string };
  const pub = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', MEDIA, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${server.rtmpPort}/live/${s.key}`]);
  const rows: Array<{ n: number; cpuPct: number; kbps: number; p50: number; p99: number; max: number; packets: number; playersCpuPct: number }> = [];
  try {
    await waitFor('live', () => server.hub.isLive(s.id), 20000);
    log(`warm-up ${values.warmup} s`);
    await sleep(Number(values.warmup) * 1000);
    for (const n of counts) {
      // Up to the API's 10 targets per stream through the API (as users add them); beyond, the same Forwarder on the hub
      // directly (what the service does for each stored target).
      const ids: string[] = [];
      const direct: Forwarder[] = [];
      for (let i = 0; i < n; i++) {
        const url = nginx.url(`bench-key-${i}-0123456789`);
        if (i < 10) {
          const r = (await (await api('POST', `/api/streams/${s.id}/forwards`, { url, label: `t${i}` })).json()) as { id: string };
          ids.push(r.id);
        } else {
          const f = new Forwarder(`d${i}`, parseForwardUrl(url), (sink) => server.hub.subscribe(s.id, sink), DIRECT_OPTS, quiet, () => undefined);
          f.begin();
          direct.push(f);
        }
      }
      const all = () => [...ids.map((id) => server.forwards.forwarder(id)), ...direct];
      await waitFor(`${n} targets live`, () => all().every((f) => f?.status().state === 'live'), 30000);
      await sleep(Number(values.settle) * 1000);
      delays.length = 0;
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await sleep(seconds * 1000);
      const c = process.cpuUsage(c0);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpuPct = ((c.user + c.system) / 1e6 / wall) * 100;
      const kbps = all().reduce((sum, f) => sum + (f?.status().bitrateKbps ?? 0), 0) / Math.max(1, n);
      const sorted = delays.slice().sort((x, y) => x - y);
      const row = { n, cpuPct, kbps: Math.round(kbps), p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN, packets: sorted.length, playersCpuPct: NaN };
      rows.push(row);
      log(`N=${n}: server ${cpuPct.toFixed(2)} % of a core, ${row.kbps} kbit/s per target, delay p50 ${row.p50} / p99 ${row.p99} / max ${row.max} ms over ${row.packets} packets`);
      for (const id of ids) await api('DELETE', `/api/streams/${s.id}/forwards/${id}`);
      for (const f of direct) f.stop();
      await sleep(1000);
      // The same number of RTMP players on the same server, for the goal: a target costs no more than a player.
      if (n > 0 && values.players !== 'no') {
        row.playersCpuPct = await playersCpu(Number(server.rtmpPort), s.id, n);
        log(`N=${n} RTMP players: server ${row.playersCpuPct.toFixed(2)} % of a core`);
        await sleep(1000);
      }
    }
  } finally {
    await pub.kill('SIGKILL');
    await server.close();
    await nginx.dispose();
    await rm(dataDir, { recursive: true, force: true });
  }
  const base = rows.find((r) => r.n === 0)?.cpuPct ?? NaN;
  console.log('| N | server CPU, N targets (% of a core) | per target | server CPU, N RTMP players | per player | target ÷ player | kbit/s per target | hub → socket p50 / p99 / max |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const per = r.n > 0 ? (r.cpuPct - base) / r.n : NaN;
    const perPlayer = r.n > 0 ? (r.playersCpuPct - base) / r.n : NaN;
    const f = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');
    console.log(`| ${r.n} | ${r.cpuPct.toFixed(2)} | ${f(per)} | ${f(r.playersCpuPct)} | ${f(perPlayer)} | ${f(per / perPlayer)} | ${r.n ? r.kbps : '–'} | ${r.n ? `${r.p50} / ${r.p99} / ${r.max} ms` : '–'} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
