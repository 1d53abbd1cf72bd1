/**
 * Browser-ingest benchmark: N WebSocket clients stream MediaRecorder-like 720p30 recordings to
 * `/ingest` in real time (250 ms chunks); we measure the CPU of the server process and of its
 * ffmpeg children per broadcast, and the largest N at which every broadcast keeps up.
 *
 *   npx tsx bench/ingest/run.ts [--seconds 20] [--max 8] [--warmup 5] [--modes remux,transcode]
 *                               [--from 1 | --from remux=8,transcode=4] [--retries 1]
 *                               [--cpu-prof] [--diagnose] [--fixtures-only] [--no-quiet-wait]
 *
 * - remux:     mimeType video/webm;codecs=h264,opus, H.264 Constrained Baseline + Opus in Matroska (-c:v copy path)
 * - transcode: mimeType video/webm;codecs=vp8,opus,  VP8 + Opus in WebM (libx264 veryfast path)
 *
 * The recordings are encoded once into bench/.cache/media/. The server runs as its own process
 * (`node --import tsx server/index.ts --api-only`) on loopback ports; this process is the load generator.
 * Results (JSON + a markdown table) go to bench/.cache/results/.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { ingestArgs } from '../../server/ffmpeg/args';
import { cpuSeconds, machineBusyOver, machinePct as machineBusyPct, machineTicks, processTimes, rssMiB, type ProcTimes } from '../proc';
import { freePort } from '../tools';
import { createBenchStream } from '../operator';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = path.join(ROOT, 'bench', '.cache');
const MEDIA_DIR = path.join(CACHE, 'media');
const RESULTS_DIR = path.join(CACHE, 'results');

const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    max: { type: 'string', default: '8' },
    /** First N: `4`, or per mode `remux=8,transcode=4` (to repeat a step). */
    from: { type: 'string', default: '1' },
    /** A step that fails while other work loads the machine is repeated once it is quiet again, this often. */
    retries: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '5' },
    modes: { type: 'string', default: 'remux,transcode' },
    'cpu-prof': { type: 'boolean', default: false },
    diagnose: { type: 'boolean', default: false },
    'fixtures-only': { type: 'boolean', default: false },
    'no-quiet-wait': { type: 'boolean', default: false },
    'quiet-load': { type: 'string', default: '2.5' },
    'quiet-wait-minutes': { type: 'string', default: '25' },
  },
  strict: true,
});

const SECONDS = Number(opt.seconds);
const MAX_N = Number(opt.max);
const WARMUP = Number(opt.warmup);
const QUIET_LOAD = Number(opt['quiet-load']);
const QUIET_WAIT_MS = Number(opt['quiet-wait-minutes']) * 60_000;
for (const [k, v] of Object.entries({ seconds: SECONDS, max: MAX_N, warmup: WARMUP, 'quiet-load': QUIET_LOAD, 'quiet-wait-minutes': QUIET_WAIT_MS })) {
  if (!Number.isFinite(v) || v < 0 || (k !== 'warmup' && v === 0)) throw new Error(`bad --${k}`);
}
if (MAX_N > 32) throw new Error('--max is at most 32');
const RETRIES = Math.min(3, Math.max(0, Number(opt.retries) || 0));
function fromN(mode: string): number {
  const spec = opt.from.trim();
  if (/^\d+$/.test(spec)) return Number(spec);
  const m = new RegExp(`(?:^|,)\\s*${mode}\\s*=\\s*(\\d+)`).exec(spec);
  return m ? Number(m[1]) : 1;
}
/** Other processes' CPU during a step above which a failure says more about them than about us (% of one core). */
const CONTENDED_PCT = 50;

const SPEED_MIN = 0.95;
const FPS = 30;
const RELAY_FPS_MIN = 27;
const CHUNK_MS = 250;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
const fmt = (v: number | null | undefined, d = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));
const mean = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);

// ---- fixtures --------------------------------------------------------------------------------

type Mode = 'remux' | 'transcode';
interface Fixture {
  mode: Mode;
  file: string;
  mimeType: string;
}

/** Long enough for warm-up + window + start-up of N clients + stop, never shorter than 40 s. */
const FIXTURE_SECONDS = Math.max(40, Math.ceil(WARMUP + SECONDS + 12));

function fixturePath(mode: Mode): string {
  return mode === 'remux'
    ? path.join(MEDIA_DIR, `ingest-h264cb-opus-720p30-2500k-g30-${FIXTURE_SECONDS}s.mkv`)
    : path.join(MEDIA_DIR, `ingest-vp8-opus-720p30-2500k-g30-${FIXTURE_SECONDS}s.webm`);
}

/** Like Chrome's MediaRecorder at 720p: 30 fps, ~2.5 Mbit/s video, Opus 48 kHz stereo 128k. */
function ensureFixture(mode: Mode): Fixture {
  const file = fixturePath(mode);
  const mimeType = mode === 'remux' ? 'video/webm;codecs=h264,opus' : 'video/webm;codecs=vp8,opus';
  if (existsSync(file)) return { mode, file, mimeType };
  mkdirSync(MEDIA_DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const video =
    mode === 'remux'
      ? ['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '5000k', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0']
      : ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-pix_fmt', 'yuv420p', '-b:v', '2500k', '-minrate', '2500k', '-maxrate', '2500k', '-g', '30', '-auto-alt-ref', '0', '-lag-in-frames', '0'];
  log(`encoding ${path.relative(ROOT, file)} once (${FIXTURE_SECONDS} s, 1280x720 30 fps, ${mode === 'remux' ? 'H.264 baseline' : 'VP8'} ~2.5 Mbit/s + Opus) ...`);
  const t0 = Date.now();
  const r = spawnSync(
    'ffmpeg',
    [
      '-hide_banner', '-loglevel', 'error', '-y',
      // testsrc2 moves; light temporal noise keeps the encoder spending its bit budget (a camera is never clean).
      '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(FIXTURE_SECONDS),
      '-map', '0:v', '-map', '1:a',
      ...video,
      '-c:a', 'libopus', '-b:a', '128k', '-ac', '2', '-ar', '48000',
      '-f', mode === 'remux' ? 'matroska' : 'webm', tmp,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], timeout: 1_800_000 },
  );
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`fixture encode failed (${r.status ?? r.signal})`);
  }
  renameSync(tmp, file);
  log(`  done in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${(statSync(file).size / 1e6).toFixed(1)} MB`);
  return { mode, file, mimeType };
}

// ---- Matroska pacing -------------------------------------------------------------------------

/**
 * Where each Cluster starts (bytes) and when (seconds): sending is paced by the file's own
 * timestamps, bytes interpolated linearly within a cluster, so each 250 ms chunk carries about
 * 250 ms of media as MediaRecorder's timeslice would.
 */
interface Schedule {
  points: Array<{ t: number; offset: number }>;
  end: number;
  duration: number;
}

function readVint(buf: Buffer, pos: number, keepMarker: boolean): { value: number; len: number; unknown: boolean } {
  const b = buf[pos];
  let len = 1;
  while (len <= 8 && !(b & (0x80 >> (len - 1)))) len++;
  if (len > 8) throw new Error(`bad EBML vint at ${pos}`);
  let value = keepMarker ? b : b & (0xff >> len);
  let allOnes = value === (0xff >> len);
  for (let i = 1; i < len; i++) {
    value = value * 256 + buf[pos + i];
    if (buf[pos + i] !== 0xff) allOnes = false;
  }
  return { value, len, unknown: !keepMarker && allOnes };
}

function readUint(buf: Buffer, pos: number, len: number): number {
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 256 + buf[pos + i];
  return v;
}

export function clusterSchedule(buf: Buffer): Schedule {
  const SEGMENT = 0x18538067;
  const CLUSTER = 0x1f43b675;
  const INFO = 0x1549a966;
  const TIMECODE = 0xe7;
  const SCALE = 0x2ad7b1;
  const DURATION = 0x4489;
  let pos = 0;
  const header = (p: number) => {
    const id = readVint(buf, p, true);
    const size = readVint(buf, p + id.len, false);
    return { id: id.value, dataStart: p + id.len + size.len, size: size.value, unknown: size.unknown };
  };
  const ebml = header(pos);
  pos = ebml.dataStart + ebml.size;
  const seg = header(pos);
  if (seg.id !== SEGMENT) throw new Error('no Matroska Segment');
  const segEnd = seg.unknown ? buf.length : Math.min(buf.length, seg.dataStart + seg.size);
  pos = seg.dataStart;
  let scale = 1_000_000;
  let durationTicks = NaN;
  const clusters: Array<{ t: number; offset: number }> = [];
  let end = 0;
  for (let guard = 0; pos < segEnd && guard < 1_000_000; guard++) {
    const el = header(pos);
    if (el.unknown) throw new Error('unknown-size element: the fixture must be written to a seekable file');
    if (el.id === INFO) {
      for (let p = el.dataStart; p < el.dataStart + el.size; ) {
        const c = header(p);
        if (c.id === SCALE) scale = readUint(buf, c.dataStart, c.size);
        if (c.id === DURATION) durationTicks = c.size === 4 ? buf.readFloatBE(c.dataStart) : buf.readDoubleBE(c.dataStart);
        p = c.dataStart + c.size;
      }
    } else if (el.id === CLUSTER) {
      // The Timecode comes first, after an optional CRC-32 or Void.
      let tc = NaN;
      for (let p = el.dataStart, k = 0; p < el.dataStart + el.size && k < 4; k++) {
        const c = header(p);
        if (c.id === TIMECODE) {
          tc = readUint(buf, c.dataStart, c.size);
          break;
        }
        p = c.dataStart + c.size;
      }
      if (!Number.isFinite(tc)) throw new Error(`Cluster at ${pos} without a Timecode`);
      clusters.push({ t: tc, offset: pos });
      end = el.dataStart + el.size;
    }
    pos = el.dataStart + el.size;
  }
  if (clusters.length < 2) throw new Error('too few clusters');
  const toS = (ticks: number) => (ticks * scale) / 1e9;
  const points = clusters.map((c) => ({ t: toS(c.t), offset: c.offset }));
  const lastGap = points[points.length - 1].t - points[points.length - 2].t;
  const duration = Number.isFinite(durationTicks) ? toS(durationTicks) : points[points.length - 1].t + lastGap;
  points[0].t = 0; // the header goes with the first chunk
  points.push({ t: Math.max(duration, points[points.length - 1].t + 0.001), offset: end });
  return { points, end, duration };
}

/** Bytes of the file due after `elapsed` seconds of real time. */
function dueBytes(s: Schedule, elapsed: number): number {
  const p = s.points;
  if (elapsed >= p[p.length - 1].t) return s.end;
  let i = 0;
  while (i + 1 < p.length && p[i + 1].t <= elapsed) i++;
  const a = p[i];
  const b = p[i + 1];
  return Math.floor(a.offset + ((elapsed - a.t) / (b.t - a.t)) * (b.offset - a.offset));
}

// ---- /proc -------------------------------------------------------------------------------------

const NPROC = os.cpus().length;

function childPids(ppid: number): number[] {
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(ppid)], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** The busiest other processes between two snapshots, % of one core, e.g. "node 41234 52%". */
function topOthers(a: Map<string, ProcTimes>, b: Map<string, ProcTimes>, exclude: Set<number>, wallS: number): string[] {
  const rows: Array<[string, number]> = [];
  for (const [pid, x] of b) {
    if (exclude.has(Number(pid))) continue;
    const pct = ((x.cpu - (a.get(pid)?.cpu ?? 0)) / wallS) * 100;
    if (pct >= 2) rows.push([`${x.comm} ${pid} ${pct.toFixed(0)}%`, pct]);
  }
  return rows.sort((p, q) => q[1] - p[1]).slice(0, 4).map((r) => r[0]);
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);

/** Busy CPU of the machine (all processes but ours, when nothing of ours runs), % of one core, that counts as quiet. */
const QUIET_BUSY_PCT = 50;

/**
 * Poll until the 1-minute load average is below `limit` and the machine is really idle now (the load
 * average lags by a minute: a test that just started does not show yet). Bounded by `maxMs`.
 */
async function waitQuiet(limit: number, maxMs: number): Promise<{ quiet: boolean; waitedS: number; load: number[]; busyPct: number }> {
  const t0 = Date.now();
  let lastLog = 0;
  for (;;) {
    const load = loadavg();
    const busyPct = await machineBusyOver(3000);
    const quiet = load[0] < limit && busyPct < QUIET_BUSY_PCT;
    if (quiet || Date.now() - t0 >= maxMs) return { quiet, waitedS: Math.round((Date.now() - t0) / 1000), load, busyPct: Math.round(busyPct) };
    if (Date.now() - lastLog > 60_000) {
      log(`waiting for a quiet machine: load ${load.join(' ')}, busy ${busyPct.toFixed(0)} % of one core (need 1-min load < ${limit} and < ${QUIET_BUSY_PCT} %; ${((Date.now() - t0) / 60000).toFixed(0)} of ${(maxMs / 60000).toFixed(0)} min)`);
      lastLog = Date.now();
    }
    await sleep(2000);
  }
}

// ---- the server --------------------------------------------------------------------------------

interface Server {
  pid: number;
  http: string;
  child: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

async function startServer(profileDir: string | null): Promise<Server> {
  const [port, rtmpPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'golive-bench-ingest-'));
  const nodeArgs = ['--import', 'tsx'];
  if (profileDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', profileDir);
  const child = spawn(process.execPath, [...nodeArgs, 'server/index.ts', '--api-only'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), RTMP_PORT: String(rtmpPort), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', NODE_ENV: 'production', RECORD: process.env.RECORD ?? 'off',
      // The benchmark looks for the machine's limit: the server's own caps must not be it (all clients are loopback).
      INGEST_MAX_SESSIONS: String(Math.max(MAX_N, 16)), INGEST_MAX_SOCKETS_PER_ADDRESS: String(Math.max(MAX_N, 16) + 4) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const http = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited at start: ${err}`);
    try {
      if ((await fetch(`${http}/healthz`)).ok) break;
    } catch {
      // not yet
    }
    if (Date.now() - t0 > 60_000) throw new Error(`server did not start in 60 s: ${err}`);
    await sleep(200);
  }
  const pid = child.pid!;
  return {
    pid,
    http,
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(8000)]);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await Promise.race([exited, sleep(3000)]);
        }
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function createStream(http: string): Promise<{ id: string; key: string }> {
  return createBenchStream(http, 'bench ingest');
}

// ---- a broadcasting client ----------------------------------------------------------------------

interface StatsMsg {
  at: number;
  ingest: { fps: number; bitrateKbps: number; speed: number; frames: number };
  received: { bytes: number; bitrateKbps: number };
  bufferedBytes: number;
  relay: { live: boolean; fps: number; bitrateKbps: number };
  struggling: boolean;
}

class Broadcast {
  ws!: WebSocket;
  stats: StatsMsg[] = [];
  startedAt = 0;
  transcode: boolean | null = null;
  closed: Promise<{ code: number; reason: string }> = Promise.resolve({ code: 0, reason: '' });
  closeInfo: { code: number; reason: string } | null = null;
  sent = 0;
  maxBufferedAmount = 0;
  lateTicks = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(
    private readonly http: string,
    private readonly file: Buffer,
    private readonly schedule: Schedule,
    private readonly mimeType: string,
  ) {}

  async open(stream: { id: string; key: string }): Promise<void> {
    const ws = new WebSocket(`${this.http.replace('http', 'ws')}/ingest`, { perMessageDeflate: false });
    this.ws = ws;
    let onStarted: (() => void) | null = null;
    const started = new Promise<void>((resolve) => (onStarted = resolve));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const msg = JSON.parse(data.toString()) as Record<string, unknown>;
      if (msg.type === 'ping') ws.send(JSON.stringify({ type: 'pong', serverTime: msg.serverTime, clientTime: Date.now() }));
      else if (msg.type === 'started') {
        this.transcode = msg.transcode as boolean;
        this.startedAt = Date.now();
        onStarted?.();
      } else if (msg.type === 'stats') this.stats.push({ ...(msg as unknown as StatsMsg), at: Date.now() });
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.stopSending();
        resolve(this.closeInfo);
      }),
    );
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('error', () => undefined);
    ws.send(JSON.stringify({ type: 'start', v: 1, streamId: stream.id, key: stream.key, mimeType: this.mimeType, captureStart: Date.now() }));
    const ok = await Promise.race([started.then(() => true), sleep(15_000).then(() => false), this.closed.then(() => false)]);
    if (!ok) throw new Error(`no 'started' within 15 s (${this.closeInfo?.code ?? ''} ${this.closeInfo?.reason ?? ''})`);
    this.sendLoop();
  }

  /** Real time, 250 ms chunks, paced by the file's timestamps (drift-free: due bytes from the clock). */
  private sendLoop(): void {
    const t0 = performance.now();
    let tick = 0;
    const step = () => {
      if (this.stopped || this.ws.readyState !== WebSocket.OPEN) return;
      tick++;
      const elapsed = (performance.now() - t0) / 1000;
      if (elapsed * 1000 > tick * CHUNK_MS + CHUNK_MS) this.lateTicks++;
      const due = dueBytes(this.schedule, elapsed);
      if (due > this.sent) {
        this.ws.send(this.file.subarray(this.sent, due));
        this.sent = due;
      }
      this.maxBufferedAmount = Math.max(this.maxBufferedAmount, this.ws.bufferedAmount);
      if (this.sent >= this.schedule.end) return; // the recording ran out
      const next = t0 + (tick + 1) * CHUNK_MS - performance.now();
      this.timer = setTimeout(step, Math.max(0, next));
    };
    this.timer = setTimeout(step, CHUNK_MS);
  }

  private stopSending(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  get ranOut(): boolean {
    return this.sent >= this.schedule.end;
  }

  async stop(): Promise<{ code: number; reason: string }> {
    this.stopSending();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'stop' }));
    const r = await Promise.race([this.closed, sleep(10_000).then(() => null)]);
    if (r) return r;
    this.ws.terminate();
    return { code: -1, reason: 'no close within 10 s after stop' };
  }
}

// ---- one step: N broadcasts of one mode ---------------------------------------------------------

interface BroadcastResult {
  speedMin: number;
  speedMean: number;
  speedLast: number;
  /** Output frame rate of ffmpeg over the window (from the frame counter), fps. */
  ffmpegFps: number;
  relayFpsMean: number;
  relayFpsMin: number;
  relayKbps: number;
  receivedKbps: number;
  struggling: number;
  samples: number;
  maxBufferedAmount: number;
  ranOut: boolean;
  keepsUp: boolean;
  /** Every stats message since 'started': [s since started, speed, frames, relay fps, bufferedBytes, struggling]. */
  series: Array<[number, number, number, number, number, 0 | 1]>;
}

interface StepResult {
  mode: Mode;
  n: number;
  windowS: number;
  loadBefore: number[];
  /** 1 for a repeat of a step that failed on a busy machine. */
  attempt?: number;
  /** Machine busy just before the step (none of our broadcasts running), % of one core. */
  busyBefore?: number;
  serverPct: number;
  ffmpegPct: number;
  ffmpegProcs: number;
  ffmpegLost: number;
  loadgenPct: number;
  machinePct: number;
  otherPct: number;
  stealPct: number;
  /** irq + softirq (loopback TCP is softirq work, charged to no process), % of one core. */
  irqPct: number;
  /** The busiest other processes in the window. */
  others: string[];
  serverRssMiB: number;
  ffmpegRssMiB: number;
  broadcasts: BroadcastResult[];
  keptUp: number;
  allKeepUp: boolean;
  stopCodes: number[];
  ffmpegGoneS: number | null;
  error?: string;
}

function summarizeBroadcast(b: Broadcast, t0: number, t1: number): BroadcastResult {
  const w = b.stats.filter((s) => s.at >= t0 && s.at <= t1);
  const speeds = w.map((s) => s.ingest.speed);
  const fps = w.map((s) => s.relay.fps);
  const first = w[0];
  const last = w[w.length - 1];
  const dt = first && last ? (last.at - first.at) / 1000 : 0;
  const ffmpegFps = dt > 0 ? (last.ingest.frames - first.ingest.frames) / dt : NaN;
  const r: BroadcastResult = {
    speedMin: speeds.length ? Math.min(...speeds) : NaN,
    speedMean: mean(speeds),
    speedLast: last?.ingest.speed ?? NaN,
    ffmpegFps,
    relayFpsMean: mean(fps),
    relayFpsMin: fps.length ? Math.min(...fps) : NaN,
    relayKbps: mean(w.map((s) => s.relay.bitrateKbps)),
    receivedKbps: mean(w.map((s) => s.received.bitrateKbps)),
    struggling: w.filter((s) => s.struggling).length,
    samples: w.length,
    maxBufferedAmount: b.maxBufferedAmount,
    ranOut: false,
    keepsUp: false,
    series: b.stats.map((s) => [Math.round((s.at - b.startedAt) / 100) / 10, s.ingest.speed, s.ingest.frames, s.relay.fps, s.bufferedBytes, s.struggling ? 1 : 0]),
  };
  // ffmpeg's speed is cumulative since it started (and starts high: its clock starts after the first chunk
  // arrived), so the frame counter over the window must also show real time.
  r.keepsUp =
    w.length >= Math.max(3, (t1 - t0) / 1000 - 3) &&
    r.speedMin >= SPEED_MIN &&
    r.ffmpegFps >= SPEED_MIN * FPS &&
    r.relayFpsMean >= RELAY_FPS_MIN &&
    w.every((s) => s.relay.live);
  return r;
}

async function runStep(server: Server, fx: Fixture, file: Buffer, schedule: Schedule, n: number): Promise<StepResult> {
  const loadBefore = loadavg();
  const streams = await Promise.all(Array.from({ length: n }, () => createStream(server.http)));
  const clients = streams.map(() => new Broadcast(server.http, file, schedule, fx.mimeType));
  const result: Partial<StepResult> = { mode: fx.mode, n, loadBefore };
  try {
    // One after the other, like pages opened by different people; each starts sending at once.
    for (let i = 0; i < n; i++) await clients[i].open(streams[i]);
    await sleep(WARMUP * 1000);

    const kids0 = childPids(server.pid);
    const cpu0 = new Map(kids0.map((p) => [p, cpuSeconds(p)]));
    const s0 = cpuSeconds(server.pid)!;
    const self0 = cpuSeconds('self')!;
    const m0 = machineTicks();
    const procs0 = processTimes();
    const t0 = Date.now();
    let serverRss = 0;
    let ffRss = 0;
    for (let i = 0; i < Math.ceil(SECONDS); i++) {
      await sleep(Math.max(0, t0 + (i + 1) * 1000 - Date.now()));
      serverRss = Math.max(serverRss, rssMiB(server.pid) ?? 0);
      ffRss = Math.max(ffRss, kids0.reduce((a, p) => a + (rssMiB(p) ?? 0), 0));
    }
    const t1 = Date.now();
    const s1 = cpuSeconds(server.pid)!;
    const self1 = cpuSeconds('self')!;
    const m1 = machineTicks();
    const procs1 = processTimes();
    let ff = 0;
    let lost = 0;
    for (const p of kids0) {
      const a = cpu0.get(p);
      const b = cpuSeconds(p);
      if (a === null || a === undefined || b === null) lost++;
      else ff += b - a;
    }
    const wall = (t1 - t0) / 1000;
    const pct = (s: number) => (s / wall) * 100;
    const machinePct = machineBusyPct(m0, m1);
    const stealPct = ((m1.steal - m0.steal) / Math.max(1, m1.total - m0.total)) * 100 * NPROC;
    const irqPct = ((m1.irq - m0.irq) / Math.max(1, m1.total - m0.total)) * 100 * NPROC;
    const others = topOthers(procs0, procs1, new Set([server.pid, process.pid, ...kids0]), wall);
    Object.assign(result, {
      windowS: wall,
      serverPct: pct(s1 - s0),
      ffmpegPct: pct(ff),
      ffmpegProcs: kids0.length,
      ffmpegLost: lost,
      loadgenPct: pct(self1 - self0),
      machinePct,
      stealPct,
      irqPct,
      others,
      serverRssMiB: serverRss,
      ffmpegRssMiB: kids0.length ? ffRss / kids0.length : 0,
    });
    result.otherPct = machinePct - result.serverPct! - result.ffmpegPct! - result.loadgenPct!;
    result.broadcasts = clients.map((c) => ({ ...summarizeBroadcast(c, t0, t1), ranOut: c.ranOut }));
    for (const b of result.broadcasts) if (b.ranOut) b.keepsUp = false;
    result.keptUp = result.broadcasts.filter((b) => b.keepsUp).length;
    result.allKeepUp = result.keptUp === n && lost === 0;
  } catch (err) {
    result.error = (err as Error).message;
    result.allKeepUp = false;
    log(`  step failed: ${result.error}`);
  } finally {
    const codes = await Promise.all(clients.map((c) => (c.ws ? c.stop() : Promise.resolve({ code: -1, reason: '' }))));
    result.stopCodes = codes.map((c) => c.code);
    const tStop = Date.now();
    let gone: number | null = null;
    for (let i = 0; i < 100; i++) {
      if (childPids(server.pid).length === 0) {
        gone = (Date.now() - tStop) / 1000;
        break;
      }
      await sleep(200);
    }
    result.ffmpegGoneS = gone;
    if (gone === null) log(`  ffmpeg children still running 20 s after stop: ${childPids(server.pid).join(' ')}`);
  }
  return result as StepResult;
}

// ---- diagnosis: what does the remux ffmpeg spend its CPU on? -------------------------------------

/**
 * Runs the server's own ffmpeg command line (ingestArgs) standalone on the remux recording, fed in
 * real time through stdin, writing FLV to /dev/null, in variants: as the server runs it, without
 * audio, audio without video. CPU % of one core each (the same file, 20 s).
 */
async function diagnose(fx: Fixture, file: Buffer, schedule: Schedule): Promise<Array<{ variant: string; pct: number; speed: string }>> {
  const base = ingestArgs({ input: 'webm', transcode: fx.mode === 'transcode', output: '/dev/null', ffmpegMajor: 5 });
  const head = base.slice(0, base.lastIndexOf('-f'));
  /** `head` without the given option pairs (e.g. '-c:a' drops '-c:a aac'). */
  const without = (...drop: string[]) => {
    const out: string[] = [];
    for (let i = 0; i < head.length; i++) {
      if (drop.includes(head[i]) || drop.includes(`${head[i]} ${head[i + 1]}`)) i++;
      else out.push(head[i]);
    }
    return out;
  };
  const sink = ['-f', 'flv', '-y', '/dev/null'];
  const variants: Array<{ variant: string; args: string[] }> = [
    { variant: 'server args (video copy, Opus -> AAC 128k), FLV to /dev/null', args: [...head, ...sink] },
    { variant: 'video only (-an): demux + copy + FLV mux', args: [...without('-map 0:a:0?', '-c:a', '-b:a', '-ar'), '-an', ...sink] },
    { variant: 'audio only (-vn): Opus decode + AAC encode', args: [...without('-map 0:v:0?', '-c:v'), '-vn', ...sink] },
    { variant: 'audio only, -aac_coder fast', args: [...without('-map 0:v:0?', '-c:v'), '-vn', '-aac_coder', 'fast', ...sink] },
    { variant: 'audio only, Opus decode, no encode (-f null)', args: [...without('-map 0:v:0?', '-c:v', '-c:a', '-b:a'), '-vn', '-f', 'null', '-'] },
  ];
  const out: Array<{ variant: string; pct: number; speed: string }> = [];
  const seconds = Math.min(SECONDS, schedule.duration - 5);
  for (const v of variants) {
    const child = spawn('ffmpeg', v.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let progress = '';
    child.stdout.on('data', (d: Buffer) => (progress = (progress + d.toString()).slice(-2000)));
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.stdin.on('error', () => undefined);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const t0 = performance.now();
    let sent = 0;
    let c0: number | null = null;
    let w0 = 0;
    for (let tick = 1; tick <= Math.ceil((seconds + 3) * 4) && child.exitCode === null; tick++) {
      await sleep(Math.max(0, t0 + tick * CHUNK_MS - performance.now()));
      const due = dueBytes(schedule, (performance.now() - t0) / 1000);
      if (due > sent) child.stdin.write(file.subarray(sent, due));
      sent = due;
      if (tick === 12) {
        c0 = cpuSeconds(child.pid!);
        w0 = performance.now();
      }
    }
    const c1 = cpuSeconds(child.pid!);
    const w1 = performance.now();
    child.stdin.end();
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
    const speed = /speed=\s*([\d.]+x)/g;
    let m: RegExpExecArray | null;
    let last = '?';
    while ((m = speed.exec(progress))) last = m[1];
    const pct = c0 !== null && c1 !== null ? ((c1 - c0) / ((w1 - w0) / 1000)) * 100 : NaN;
    if (!Number.isFinite(pct)) log(`  diagnose ${v.variant}: failed ${err.trim().split('\n').at(-1) ?? ''}`);
    out.push({ variant: v.variant, pct, speed: last });
    log(`  ${v.variant}: ${fmt(pct, 2)} % of one core (speed ${last})`);
  }
  return out;
}

// ---- report ----------------------------------------------------------------------------------

function table(steps: StepResult[]): string {
  const rows = [
    '| mode | N | keep up | ffmpeg speed min | ffmpeg fps in window | relay fps mean (min) | server % | ffmpeg % (procs) | per broadcast: server + ffmpeg = total | server RSS MiB | ffmpeg RSS MiB/proc | load gen % | other % | before: load avg, busy % |',
    '| --- | --: | :-: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |',
  ];
  for (const s of steps) {
    if (s.error && s.serverPct === undefined) {
      rows.push(`| ${s.mode} | ${s.n} | error: ${s.error} | | | | | | | | | | | ${s.loadBefore.join(' ')} |`);
      continue;
    }
    const b = s.broadcasts;
    const speedMin = Math.min(...b.map((x) => x.speedMin));
    const fpsMean = mean(b.map((x) => x.relayFpsMean));
    const fpsMin = Math.min(...b.map((x) => x.relayFpsMin));
    const per = (v: number) => v / s.n;
    rows.push(
      `| ${s.mode} | ${s.n}${s.attempt ? ` (again)` : ''} | ${s.keptUp}/${s.n}${s.allKeepUp ? '' : ' ✗'} | ${fmt(speedMin, 3)} | ${fmt(Math.min(...b.map((x) => x.ffmpegFps)))} | ${fmt(fpsMean)} (${fmt(fpsMin)}) | ${fmt(s.serverPct)} | ${fmt(s.ffmpegPct)} (${s.ffmpegProcs}${s.ffmpegLost ? `, ${s.ffmpegLost} lost` : ''}) | ${fmt(per(s.serverPct), 2)} + ${fmt(per(s.ffmpegPct), 2)} = **${fmt(per(s.serverPct + s.ffmpegPct), 2)}** | ${fmt(s.serverRssMiB, 0)} | ${fmt(s.ffmpegRssMiB, 0)} | ${fmt(s.loadgenPct)} | ${fmt(s.otherPct)} | ${s.loadBefore.join(' ')}, ${s.busyBefore ?? '?'} |`,
    );
  }
  const busy = steps.filter((s) => s.otherPct !== undefined && (s.otherPct > 20 || !s.allKeepUp));
  if (busy.length) {
    rows.push('', 'Other work on the machine during a step (other % > 20, or a failed step):');
    for (const s of busy) rows.push(`- ${s.mode} N=${s.n}${s.attempt ? ' (again)' : ''}: other ${fmt(s.otherPct, 0)} % (irq+softirq ${fmt(s.irqPct)} %, steal ${fmt(s.stealPct)} %); busiest: ${s.others.join(', ') || '–'}`);
  }
  return rows.join('\n');
}

function summary(steps: StepResult[], mode: Mode): string {
  const ms = steps.filter((s) => s.mode === mode && s.serverPct !== undefined);
  if (!ms.length) return `- ${mode}: no data`;
  const one = ms.find((s) => s.n === 1 && s.allKeepUp) ?? ms.find((s) => s.n === 1);
  const higher = ms.filter((s) => s.n > 1 && s.allKeepUp);
  const higherAll = higher.length ? higher : ms.filter((s) => s.n > 1 && !ms.some((o) => o.n === s.n && o.allKeepUp));
  const avgServer = mean(higherAll.map((s) => s.serverPct / s.n));
  const avgFf = mean(higherAll.map((s) => s.ffmpegPct / s.n));
  // A step that failed on a busy machine and then passed on its repeat counts as passed.
  const ok = ms.filter((s) => s.allKeepUp).map((s) => s.n);
  const largest = ok.length ? Math.max(...ok) : 0;
  const capped = largest === MAX_N ? ` (the --max; more may fit)` : '';
  return [
    `- ${mode}: N=1: server ${fmt(one ? one.serverPct : NaN, 2)} % + ffmpeg ${fmt(one ? one.ffmpegPct : NaN, 2)} % = ${fmt(one ? one.serverPct + one.ffmpegPct : NaN, 2)} % of one core;`,
    `  N>1 (${higherAll.map((s) => s.n).join(', ') || '–'}${higher.length ? '' : ', none kept up'}) per broadcast: server ${fmt(avgServer, 2)} % + ffmpeg ${fmt(avgFf, 2)} % = ${fmt(avgServer + avgFf, 2)} %;`,
    `  largest N where all keep up: ${largest}${capped}`,
  ].join('\n');
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const modes = opt.modes.split(',').map((m) => m.trim()) as Mode[];
  for (const m of modes) if (m !== 'remux' && m !== 'transcode') throw new Error(`unknown mode ${m}`);
  const fixtures = modes.map((m) => ensureFixture(m));
  if (opt['fixtures-only']) return;
  const media = new Map(fixtures.map((f) => {
    const buf = readFileSync(f.file);
    const sched = clusterSchedule(buf);
    const kbps = ((sched.end * 8) / sched.duration / 1000).toFixed(0);
    log(`${path.basename(f.file)}: ${sched.duration.toFixed(1)} s, ${sched.points.length - 1} clusters, ${kbps} kbit/s overall`);
    return [f.mode, { buf, sched }] as const;
  }));

  const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  const ffVersion = spawnSync('ffmpeg', ['-version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  log(`machine: ${NPROC} cores, ${cpuModel}; ${ffVersion}`);

  let quiet: { quiet: boolean | null; waitedS: number; load: number[]; busyPct?: number } = { quiet: null, waitedS: 0, load: loadavg() };
  if (!opt['no-quiet-wait']) {
    quiet = await waitQuiet(QUIET_LOAD, QUIET_WAIT_MS);
    log(quiet.quiet ? `machine quiet (load ${quiet.load.join(' ')}, busy ${quiet.busyPct} %) after ${quiet.waitedS} s` : `machine never got quiet in ${quiet.waitedS} s (load ${quiet.load.join(' ')}, busy ${quiet.busyPct} %): running anyway`);
  }

  const profileDir = opt['cpu-prof'] ? path.join(CACHE, 'profiles-ingest', new Date().toISOString().replace(/[:.]/g, '-')) : null;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const server = await startServer(profileDir);
  const cleanup = () => {
    if (server.child.exitCode === null) server.child.kill('SIGTERM');
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  process.once('exit', cleanup);

  const steps: StepResult[] = [];
  let diag: Awaited<ReturnType<typeof diagnose>> | null = null;
  let idle = { serverPct: NaN, machinePct: NaN };
  try {
    log(`server pid ${server.pid} at ${server.http}`);
    // The idle server, for reference.
    await sleep(3000);
    {
      const a = cpuSeconds(server.pid)!;
      const t = Date.now();
      const machinePct = await machineBusyOver(5000);
      idle = { serverPct: ((cpuSeconds(server.pid)! - a) / ((Date.now() - t) / 1000)) * 100, machinePct };
      log(`idle server: ${fmt(idle.serverPct, 2)} % of one core; whole machine busy ${fmt(machinePct)} % of one core`);
    }
    for (const fx of fixtures) {
      const { buf, sched } = media.get(fx.mode)!;
      let attempt = 0;
      for (let n = fromN(fx.mode); n <= MAX_N; n++) {
        // Between steps: other work on the machine must be idle again (our processes are gone by now), bounded.
        const q = opt['no-quiet-wait'] ? { quiet: null, busyPct: Math.round(await machineBusyOver(2000)) } : await waitQuiet(Infinity, 180_000);
        log(`${fx.mode} N=${n}: starting${attempt ? ` again (${attempt})` : ''} (load ${loadavg().join(' ')}, machine busy ${q.busyPct} % of one core before${q.quiet === false ? ': NOT quiet after 3 min' : ''})`);
        const s = await runStep(server, fx, buf, sched, n);
        s.busyBefore = q.busyPct;
        s.attempt = attempt;
        steps.push(s);
        if (s.serverPct !== undefined) {
          const b = s.broadcasts;
          log(
            `  keep up ${s.keptUp}/${n}; speed min ${fmt(Math.min(...b.map((x) => x.speedMin)), 3)}; ffmpeg fps min ${fmt(Math.min(...b.map((x) => x.ffmpegFps)))}; relay fps ${b.map((x) => fmt(x.relayFpsMean)).join(' ')}; ` +
              `server ${fmt(s.serverPct)} %, ffmpeg ${fmt(s.ffmpegPct)} % (${s.ffmpegProcs}), per broadcast ${fmt((s.serverPct + s.ffmpegPct) / n, 2)} %; load gen ${fmt(s.loadgenPct)} %, other ${fmt(s.otherPct)} %; ` +
              `stop codes ${[...new Set(s.stopCodes)].join(',')}, ffmpeg gone ${fmt(s.ffmpegGoneS)} s after stop\n` +
              `  other: irq+softirq ${fmt(s.irqPct)} %, steal ${fmt(s.stealPct)} %, busiest: ${s.others.join(', ') || '–'}`,
          );
        }
        if (!s.allKeepUp) {
          const contended = (s.otherPct ?? 0) > CONTENDED_PCT || q.busyPct > CONTENDED_PCT;
          if (contended && attempt < RETRIES) {
            attempt++;
            log(`  N=${n} failed while other processes used ${fmt(s.otherPct, 0)} % of one core (${q.busyPct} % before): repeating it`);
            n--;
            continue;
          }
          log(`  ${fx.mode}: broadcasts fall behind at N=${n}: next mode`);
          break;
        }
        attempt = 0;
      }
    }
    if (opt.diagnose) {
      const fx = fixtures.find((f) => f.mode === 'remux');
      if (fx) {
        log('diagnose: the remux ffmpeg command standalone (real-time stdin, FLV to /dev/null)');
        const { buf, sched } = media.get('remux')!;
        diag = await diagnose(fx, buf, sched);
      }
    }
  } finally {
    await server.stop();
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(RESULTS_DIR, { recursive: true });
  const md = [
    `Machine: ${NPROC} cores, ${cpuModel}; ${ffVersion}; Node ${process.version}. Date: ${new Date().toISOString().slice(0, 16)}Z.`,
    `Command: npx tsx bench/ingest/run.ts --seconds ${SECONDS} --max ${MAX_N}${opt.from !== '1' ? ` --from ${opt.from}` : ''}${opt.modes !== 'remux,transcode' ? ` --modes ${opt.modes}` : ''}; warm-up ${WARMUP} s; load before: ${quiet.quiet === null ? 'not waited for (--no-quiet-wait)' : quiet.quiet ? 'quiet' : 'NOT quiet'} (load ${quiet.load.join(' ')}${quiet.busyPct !== undefined ? `, busy ${quiet.busyPct} % of one core` : ''} after waiting ${quiet.waitedS} s).`,
    `Idle server: ${fmt(idle.serverPct, 2)} % of one core.`,
    '',
    table(steps),
    '',
    summary(steps, 'remux'),
    summary(steps, 'transcode'),
    ...(diag ? ['', 'Remux ffmpeg standalone (same args, real-time stdin, FLV to /dev/null):', ...diag.map((d) => `- ${d.variant}: ${fmt(d.pct, 2)} % (speed ${d.speed})`)] : []),
    ...(profileDir ? ['', `Server CPU profile: ${path.relative(ROOT, profileDir)}`] : []),
  ].join('\n');
  const json = { date: new Date().toISOString(), nproc: NPROC, cpuModel, ffVersion, seconds: SECONDS, warmup: WARMUP, max: MAX_N, quiet, idle, steps, diagnose: diag, profileDir };
  writeFileSync(path.join(RESULTS_DIR, `ingest-${stamp}.json`), JSON.stringify(json, null, 2));
  writeFileSync(path.join(RESULTS_DIR, `ingest-${stamp}.md`), `${md}\n`);
  console.log(md);
  log(`results: ${path.relative(ROOT, path.join(RESULTS_DIR, `ingest-${stamp}.{json,md}`))}`);
  if (profileDir) log(`profiles: ${readdirSync(profileDir).join(', ')}`);
}

main().catch((err: unknown) => {
  console.error((err as Error)?.stack ?? String(err));
  process.exitCode = 1;
});
