/**
 * LL-HLS part delay, in process: how long after a frame reaches the relay is its part fetchable?
 *
 *   npx tsx bench/hls/part-delay.ts [--seconds 60] [--warmup 5] [--json out.json] [--nice=-10]
 *
 * --nice=N runs this process and ffmpeg at priority N (nice and autogroup nice), for a machine shared
 * with other sessions. ffmpeg runs in a session of its own; run this script under `setsid` too, so
 * that the autogroup nice applies to it alone and not to the calling shell's session.
 *
 * The real server (startServer, withNext:false) on 127.0.0.1 with OS-chosen ports; ffmpeg publishes
 * a pre-encoded 2.5 Mbit/s 720p30 H.264/AAC FLV in real time (`-re -stream_loop -1 -c copy`).
 * No server code is changed: the benchmark wraps, on the live Segmenter instance,
 *   - `packet()`   to note every packet's relay arrival (`receivedAt`, set by the RTMP relay when the
 *                  FLV tag is parsed, Date.now() ms) and its segmenter entry time (hi-res), and
 *   - `onChange()` to timestamp each new part (before the HLS service wakes its blocked requests).
 * A part closes while the segmenter handles the frame AFTER its last frame (the "closing frame"),
 * so per part it reports ready time minus:
 *   last packet   arrival of the last packet (audio or video) that went into the part
 *   last video    arrival of the part's last video frame (inherently ~1 frame interval, 33 ms)
 *   closing frame arrival of the closing frame: the pure processing cost (hub + segmenter + fMP4)
 *   seg. entry    the closing frame's entry into Segmenter.packet (hi-res): segmenter + fMP4 only
 * and, for the HTTP side, one in-process LL-HLS client (keep-alive http.Agent) that loops like
 * hls.js: blocking playlist reload for the hinted part plus a blocking request for the hinted part;
 *   HTTP TTFB     response headers of the hinted-part request minus the part's ready time
 *   HTTP body     whole part received minus ready time
 *   client e2e    whole part received minus arrival of the part's last packet
 * It also times renderPlaylist() on the live segmenter (full and delta), to size what rendering the
 * playlist per request would cost (the service renders once per change and serves the same bytes).
 * Times are wall clock; `receivedAt` is whole ms (floored), so delays from it are biased by +0..1 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from '../../server/app';
import type { MediaPacket } from '../../server/codec/flv';
import { loadConfig } from '../../server/config';
import { renderPlaylist } from '../../server/hls/playlist';
import type { Segmenter } from '../../server/hls/segmenter';
import { createLogger } from '../../server/log';
import { cpuSeconds, machinePct, machineTicks, renice } from '../proc';
import {
  CACHE, ensureMedia, fmt, log, parsePlaylist, partKey, publishArgs, sleep, summarize, wallNow, type Summary,
} from './common';
import { BENCH_ADMIN_TOKEN, createBenchStream } from '../operator';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    json: { type: 'string' },
    nice: { type: 'string', default: '0' },
  },
});
const seconds = Number(args.seconds);
const warmup = Number(args.warmup);
const niceness = Number(args.nice);
function prioritize(pid: number | undefined): void {
  if (!niceness || !pid) return;
  try {
    renice(pid, niceness);
  } catch (err) {
    log(`setPriority(${pid}, ${niceness}) failed: ${(err as Error).message}`);
  }
}

interface PacketNote {
  kind: 'audio' | 'video';
  dts: number;
  receivedAt: number;
  entry: number;
}

interface PartRecord {
  key: string;
  msn: number;
  index: number;
  bytes: number;
  durationMs: number;
  ready: number;
  lastPacket: PacketNote | null;
  lastVideo: PacketNote | null;
  closing: PacketNote | null;
  /** HTTP client. */
  requestedBefore?: boolean;
  ttfb?: number;
  body?: number;
}

const parts = new Map<string, PartRecord>();
let ffmpegChild: ChildProcess | null = null;
let measureFrom = Infinity;
let measureTo = Infinity;

function hook(seg: Segmenter): void {
  let current: PacketNote | null = null;
  let previous: PacketNote | null = null;
  let lastVideo: PacketNote | null = null; // last video frame handled before `current`
  const origPacket = seg.packet.bind(seg);
  seg.packet = (p: MediaPacket) => {
    if (p.config || p.codec === 'other' || p.data.length === 0) return origPacket(p);
    const note: PacketNote = { kind: p.kind, dts: p.dts, receivedAt: p.receivedAt, entry: wallNow() };
    current = note;
    try {
      origPacket(p);
    } finally {
      current = null;
      previous = note;
      if (note.kind === 'video') lastVideo = note;
    }
  };
  const origChange = seg.onChange;
  seg.onChange = () => {
    const ready = wallNow();
    const s = seg.segments.at(-1);
    const part = s?.parts.at(-1);
    if (s && part) {
      const key = partKey(s.msn, part.index);
      if (!parts.has(key)) {
        parts.set(key, {
          key, msn: s.msn, index: part.index, bytes: part.data.length, durationMs: part.duration * 1000, ready,
          lastPacket: current ? previous : null,
          lastVideo: current ? lastVideo : null,
          closing: current,
        });
      }
    }
    origChange();
  };
}

// ---- HTTP client (in process, like hls.js in low-latency mode) -------------------------------

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function get(base: string, pathAndQuery: string, onHead?: (t: number) => void): Promise<{ status: number; body: Buffer; done: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${pathAndQuery}`, { agent, headers: { 'user-agent': 'part-delay-bench' } }, (res) => {
      onHead?.(wallNow());
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), done: wallNow() }));
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`timeout ${pathAndQuery}`)));
    req.on('error', reject);
  });
}

async function client(base: string, id: string, until: () => boolean): Promise<{ errors: number; requests: number }> {
  let errors = 0;
  let requests = 0;
  const pl = `/hls/${id}/index.m3u8`;
  let first = parsePlaylist((await get(base, pl)).body.toString());
  let hint = first.hint;
  while (!until() && hint) {
    const h = hint;
    const requestedBefore = !parts.has(partKey(h.msn, h.index));
    let ttfb = NaN;
    requests += 2;
    const partReq = get(base, `/hls/${id}/${h.uri}`, (t) => (ttfb = t)).then((r) => {
      const rec = parts.get(partKey(h.msn, h.index));
      if (r.status !== 200 || !rec) {
        errors++;
        return;
      }
      rec.requestedBefore = requestedBefore;
      rec.ttfb = ttfb - rec.ready;
      rec.body = r.done - rec.ready;
    });
    const plReq = get(base, `${pl}?_HLS_msn=${h.msn}&_HLS_part=${h.index}`);
    const [, plRes] = await Promise.all([partReq.catch(() => void errors++), plRes0(plReq)]);
    if (!plRes || plRes.status !== 200) {
      errors++;
      await sleep(100);
      first = parsePlaylist((await get(base, pl)).body.toString());
      hint = first.hint;
      continue;
    }
    hint = parsePlaylist(plRes.body.toString()).hint;
  }
  return { errors, requests };
}

async function plRes0(p: Promise<{ status: number; body: Buffer; done: number }>) {
  try {
    return await p;
  } catch {
    return null;
  }
}

// ---- main ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const media = ensureMedia();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'golive-hls-bench-'));
  // Packaged from the first packet (not on demand): the hook below needs the segmenter when the stream goes live.
  const config = loadConfig({ PORT: '0', RTMP_PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', HLS_IDLE_STOP_SECONDS: '0', ADMIN_TOKEN: BENCH_ADMIN_TOKEN });
  const server = await startServer({ config, logger: createLogger('warn', false), withNext: false });
  const base = `http://127.0.0.1:${server.httpPort}`;
  let ffmpeg: ChildProcess | null = null;
  try {
    const { id, key } = await createBenchStream(base);
    server.hub.events.on('publish', ({ id: pid }) => {
      const seg = pid === id ? server.hls.segmenter(id) : undefined;
      if (seg) hook(seg);
    });
    log(`server http ${server.httpPort} rtmp ${server.rtmpPort}; publishing ${path.basename(media)} in real time`);
    ffmpeg = spawn('ffmpeg', publishArgs(`rtmp://127.0.0.1:${server.rtmpPort}/live/${key}`), { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    ffmpegChild = ffmpeg;
    prioritize(process.pid);
    prioritize(ffmpeg.pid);
    let ffErr = '';
    ffmpeg.stderr?.on('data', (d: Buffer) => (ffErr = (ffErr + d.toString()).slice(-4000)));
    const deadline = Date.now() + 20_000;
    while (parts.size < 3) {
      if (Date.now() > deadline) throw new Error(`no HLS parts after 20 s; ffmpeg: ${ffErr}`);
      await sleep(100);
    }
    measureFrom = wallNow() + warmup * 1000;
    measureTo = measureFrom + seconds * 1000;
    const until = () => wallNow() > measureTo;
    const clientRun = client(base, id, until);
    await sleep(warmup * 1000);
    const t0 = { m: machineTicks(), self: cpuSeconds(process.pid)!, ff: cpuSeconds(ffmpeg.pid) ?? 0, at: wallNow() };
    log(`measuring ${seconds} s ...`);
    await sleep(seconds * 1000);
    const t1 = { m: machineTicks(), self: cpuSeconds(process.pid)!, ff: cpuSeconds(ffmpeg.pid) ?? 0, at: wallNow() };
    const stats = await Promise.race([clientRun, sleep(5000).then(() => ({ errors: -1, requests: -1 }))]);
    const dt = (t1.at - t0.at) / 1000;
    const selfPct = ((t1.self - t0.self) / dt) * 100;
    const ffPct = ((t1.ff - t0.ff) / dt) * 100;
    const machine = machinePct(t0.m, t1.m);
    const other = machine - selfPct - ffPct;

    const inWindow = [...parts.values()].filter((p) => p.ready >= measureFrom && p.ready <= measureTo && p.closing);
    const d = (f: (p: PartRecord) => number | undefined) => summarize(inWindow.map((p) => f(p) ?? NaN));
    const rows: Array<[string, string, Summary]> = [
      ['last packet', 'ready − arrival of the last packet (audio or video) in the part', d((p) => p.ready - p.lastPacket!.receivedAt)],
      ['last video frame', 'ready − arrival of the part’s last video frame', d((p) => (p.lastVideo ? p.ready - p.lastVideo.receivedAt : NaN))],
      ['closing frame', 'ready − arrival of the frame that closes the part (processing cost)', d((p) => p.ready - p.closing!.receivedAt)],
      ['segmenter only', 'ready − closing frame’s entry into Segmenter.packet (hi-res)', d((p) => p.ready - p.closing!.entry)],
      ['HTTP TTFB', 'blocking hinted-part request: response headers − ready', d((p) => (p.requestedBefore ? p.ttfb : NaN))],
      ['HTTP body', 'blocking hinted-part request: whole part − ready', d((p) => (p.requestedBefore ? p.body : NaN))],
      ['client e2e', 'whole part at the client − arrival of the part’s last packet', d((p) => (p.requestedBefore && p.body !== undefined ? p.body + p.ready - p.lastPacket!.receivedAt : NaN))],
    ];
    // Cost of one playlist render on the live segmenter (the service caches it per change).
    const seg = server.hls.segmenter(id)!;
    const o = server.hls.options;
    const popts = { segmentTarget: o.segmentTarget, partTarget: o.partTarget, windowSegments: o.windowSegments, partSegments: 3 };
    const renderUs = (skip: boolean) => {
      const runs: number[] = [];
      for (let r = 0; r < 5; r++) {
        const t = performance.now();
        for (let i = 0; i < 1000; i++) renderPlaylist(seg, popts, { skip });
        runs.push(performance.now() - t);
      }
      return Math.min(...runs); // ms per 1000 = µs per render
    };
    const render = { fullUs: renderUs(false), deltaUs: renderUs(true), bytes: Buffer.byteLength(renderPlaylist(seg, popts)) };

    const partMs = summarize(inWindow.map((p) => p.durationMs));
    const bytes = summarize(inWindow.map((p) => p.bytes));
    const lastKinds = inWindow.reduce((n, p) => n + (p.lastPacket?.kind === 'audio' ? 1 : 0), 0);
    const blocked = inWindow.filter((p) => p.requestedBefore).length;

    const lines = [
      `Parts in the ${seconds} s window: ${inWindow.length} (duration p50 ${fmt(partMs.p50)} ms, size p50 ${fmt(bytes.p50 / 1024)} KiB); last packet was audio in ${lastKinds}; HTTP client held a blocking request for ${blocked} of them (errors ${stats.errors}, requests ${stats.requests}).`,
      `renderPlaylist() on the live stream: ${fmt(render.fullUs)} µs full (${render.bytes} bytes), ${fmt(render.deltaUs)} µs delta (best of 5 × 1000); uncached, 1000 viewers × 5 blocking reloads/s would spend ${fmt((render.fullUs * 5000) / 1e4)} % of a core on it.`,
      `CPU over the window (% of one core): this process (server + client + hooks) ${fmt(selfPct)}, ffmpeg ${fmt(ffPct)}, whole machine ${fmt(machine)} of ${os.cpus().length * 100}, so other processes ${fmt(other)}${niceness ? ` (this process and ffmpeg at nice ${niceness})` : ''}.`,
      '',
      '| delay (ms) | definition | n | p50 | p90 | p99 | max |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map(([name, def, s]) => `| ${name} | ${def} | ${s.n} | ${fmt(s.p50)} | ${fmt(s.p90)} | ${fmt(s.p99)} | ${fmt(s.max)} |`),
    ];
    console.log(lines.join('\n'));
    const out = args.json ?? path.join(CACHE, 'results', `hls-part-delay-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), seconds, warmup, niceness, selfPct, ffPct, machine, other, stats, render, rows: rows.map(([name, def, s]) => ({ name, def, ...s })), parts: inWindow }, null, 1));
    log(`results: ${path.relative(process.cwd(), out)}`);
  } finally {
    if (ffmpeg && ffmpeg.exitCode === null && ffmpeg.signalCode === null) {
      const done = new Promise((r) => ffmpeg!.once('close', r));
      ffmpeg.kill('SIGTERM');
      await Promise.race([done, sleep(3000)]);
      if (ffmpeg.exitCode === null && ffmpeg.signalCode === null) ffmpeg.kill('SIGKILL');
    }
    agent.destroy();
    await Promise.race([server.close(), sleep(5000)]);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// Bounded: whatever happens, stop (and take ffmpeg down, by its PID) shortly after the planned end.
setTimeout(() => {
  log('hard deadline reached, exiting');
  process.exit(2);
}, (seconds + warmup + 90) * 1000).unref();
process.on('exit', () => {
  if (ffmpegChild && ffmpegChild.exitCode === null && ffmpegChild.signalCode === null) ffmpegChild.kill('SIGKILL');
});

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
