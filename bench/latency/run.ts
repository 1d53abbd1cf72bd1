/**
 * Glass-to-glass latency: a Chromium page broadcasts a canvas pixel clock (the wall-clock ms,
 * 48 black/white blocks with a CRC-16) through the /ingest WebSocket like the real broadcast page;
 * players read the clock back from the frames they show and subtract it from their own clock
 * (same machine, same clock). Modes, one after the other against one broadcast:
 *
 *   ll     LL-HLS in hls.js (lowLatencyMode: true), our /hls/<id>/index.m3u8
 *   realtime  the watch page's realtime player (app/watch/player/realtime-player.ts): /realtime/<id> into MSE
 *   plain  the same playlist in hls.js with lowLatencyMode: false (whole segments)
 *   rtmp   RTMP play from our relay decoded by ffmpeg in Node (frame arrival on ffmpeg's stdout)
 *   hlsjs-stock  our LL-HLS playlist in stock hls.js: `new Hls()`, no config (lowLatencyMode on by default), no
 *          catch-up, no prefetch: what a new user's page gets (issue #17)
 *   ffmpeg-hls   our playlist read by ffmpeg's HLS demuxer (the one ffplay uses) with `-re`, so frames leave at
 *          the pace of a player's clock started at its first frame, as ffplay shows them; decoded in Node
 *   vlc-hls      our playlist in VLC (cvlc -I dummy, stream output transcoded to raw I420 on stdout), decoded in Node
 *   nginx  reference: our RTMP relayed by `ffmpeg -c copy` to nginx-rtmp, its HLS in hls.js
 *
 *   npx tsx bench/latency/run.ts [--seconds 60] [--warmup 15] [--modes ll,plain,rtmp,nginx,hlsjs-stock,ffmpeg-hls,vlc-hls]
 *     [--timeslice 100] [--no-audio] [--no-catch-up] [--no-prefetch] [--hls '{"liveSyncOnStallIncrease":0}']
 *     [--ingest-out-args='-max_interleave_delta 1'] [--json out.json]
 *
 * --no-prefetch turns off the watch page's preload-hint prefetch (app/watch/part-prefetch.ts) in the hls.js modes.
 * --timeslice, --no-audio, --hls (extra hls.js config for every hls.js mode) and --ingest-out-args
 * (extra output options for the server's ingest ffmpeg, through ffmpeg-wrap.sh) are for experiments;
 * the defaults are what the product does (app/broadcast/ingest.ts TIMESLICE_MS, audio; app/watch/hls-config.ts,
 * whose settings every hls.js mode gets, with --hls on top).
 *
 * --seconds is the measured window per mode (after --warmup). Loopback only; every process it
 * starts is stopped by its PID at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium, type Browser, type Page } from '@playwright/test';
import ts from 'typescript';
import { TIMESLICE_MS } from '../../app/broadcast/ingest';
import { WATCH_HLS_CONFIG } from '../../app/watch/hls-config';
import { cpuSeconds, machineTicks as procMachineTicks } from '../proc';
import { ensureNginx, freePort, tcpOpen } from '../tools';
import { PartsChecker } from './check-parts';
import { decodeLevels, HEIGHT, latencyFrom, sampleLevels, WIDTH } from './pixel-clock.js';
import { createBenchStream } from '../operator';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');

type Mode = 'll' | 'realtime' | 'plain' | 'rtmp' | 'nginx' | 'hlsjs-stock' | 'ffmpeg-hls' | 'vlc-hls';
const ALL_MODES: Mode[] = ['ll', 'realtime', 'plain', 'rtmp', 'nginx', 'hlsjs-stock', 'ffmpeg-hls', 'vlc-hls'];
/** The default set (the other modes are asked for by name). */
const DEFAULT_MODES: Mode[] = ['ll', 'realtime', 'plain', 'rtmp', 'nginx'];
const LABEL: Record<Mode, string> = {
  ll: 'LL-HLS, hls.js lowLatencyMode',
  realtime: 'realtime (fMP4 over WebSocket, watch page player)',
  plain: 'HLS (same playlist), hls.js no LL',
  rtmp: 'RTMP play, ffmpeg decode',
  nginx: 'nginx-rtmp HLS (ref, +1 relay hop), hls.js',
  'hlsjs-stock': 'LL-HLS, stock hls.js (new Hls(), defaults)',
  'ffmpeg-hls': "LL-HLS playlist, ffmpeg's HLS demuxer (as ffplay) -re, decode",
  'vlc-hls': 'LL-HLS playlist, VLC 3 (cvlc), decode',
};

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '15' },
    modes: { type: 'string', default: DEFAULT_MODES.join(',') },
    timeslice: { type: 'string', default: String(TIMESLICE_MS) },
    'no-audio': { type: 'boolean', default: false },
    hls: { type: 'string', default: '{}' },
    'no-catch-up': { type: 'boolean', default: false },
    'no-prefetch': { type: 'boolean', default: false },
    'ingest-out-args': { type: 'string', default: '' },
    json: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
  },
});
const seconds = Number(args.seconds);
const warmup = Number(args.warmup);
const timeslice = Number(args.timeslice);
const modes = args.modes!.split(',').map((s) => s.trim()) as Mode[];
for (const m of modes) if (!ALL_MODES.includes(m)) throw new Error(`unknown mode ${m} (use ${ALL_MODES.join(',')})`);
if (!(seconds > 0) || !(warmup >= 0) || !(timeslice >= 10)) throw new Error('bad --seconds/--warmup/--timeslice');
JSON.parse(args.hls!); // fail early on bad JSON

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

// ---- numbers ----------------------------------------------------------------------------------

function quantile(xs: number[], q: number): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))];
}
const median = (xs: number[]) => quantile(xs, 0.5);
const mean = (xs: number[]) => {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
};
const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');

// ---- processes --------------------------------------------------------------------------------

interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<void>;
  done: boolean;
  stderr: string;
}

const children = new Set<Child>();

function start(name: string, cmd: string, argv: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore'; stdout?: 'pipe' } = {}): Child {
  const proc = spawn(cmd, argv, { cwd: ROOT, env: opts.env ?? process.env, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
  const c: Child = { name, proc, done: false, stderr: '', exited: Promise.resolve() };
  c.exited = new Promise((resolve) => {
    proc.on('close', () => {
      c.done = true;
      children.delete(c);
      resolve();
    });
    proc.on('error', (err) => {
      c.stderr += `\n${err.message}`;
    });
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => (c.stderr = (c.stderr + d).slice(-8000)));
  children.add(c);
  return c;
}

/** SIGTERM the child by its PID, SIGKILL if it lingers; bounded. */
async function stop(c: Child | null | undefined, graceMs = 3000): Promise<void> {
  if (!c || c.done) return;
  c.proc.kill('SIGTERM');
  await Promise.race([c.exited, sleep(graceMs)]);
  if (!c.done) {
    c.proc.kill('SIGKILL');
    await Promise.race([c.exited, sleep(2000)]);
  }
}

function waitJsonLine<T>(c: Child, pred: (o: Record<string, unknown>) => boolean, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${c.name}: no ready line in ${ms} ms; ${c.stderr.slice(-800)}`)), ms);
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          if (pred(o)) {
            clearTimeout(timer);
            c.proc.stdout!.off('data', onData);
            resolve(o as T);
            return;
          }
        } catch {
          /* not JSON */
        }
      }
    };
    c.proc.stdout!.on('data', onData);
    void c.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${c.name} exited: ${c.stderr.slice(-800)}`));
    });
  });
}

async function waitUntil(what: string, ms: number, check: () => Promise<boolean> | boolean, everyMs = 250): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** The playlist lines that set a player's latency target (TARGETDURATION, SERVER-CONTROL, PART-INF). */
async function playlistFacts(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    const text = await res.text();
    return text
      .split('\n')
      .filter((l) => /^#EXT-X-(TARGETDURATION|SERVER-CONTROL|PART-INF)/.test(l))
      .map((l) => l.replace(/^#EXT-X-/, ''))
      .join(' ');
  } catch (err) {
    return `(${(err as Error).message})`;
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

// ---- CPU --------------------------------------------------------------------------------------

/** Busy here counts steal too (only idle and iowait are not busy). */
function machineTicks(): { busy: number; total: number } {
  const t = procMachineTicks();
  return { busy: t.busy + t.steal, total: t.total };
}

const procSeconds = (pid: number | undefined): number => cpuSeconds(pid) ?? NaN;

class CpuWindow {
  private m0 = machineTicks();
  private p0: number;
  private t0 = Date.now();
  constructor(private readonly pid: number | undefined) {
    this.p0 = procSeconds(pid);
  }
  /** Machine busy % of all cores, the process's % of one core, the 1-minute load average at the end. */
  read(): { machinePct: number; serverPct: number; load1: number } {
    const m = machineTicks();
    const p = procSeconds(this.pid);
    const wall = (Date.now() - this.t0) / 1000;
    const load1 = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
    return { machinePct: (100 * (m.busy - this.m0.busy)) / Math.max(1, m.total - this.m0.total), serverPct: (100 * (p - this.p0)) / wall, load1 };
  }
}

// ---- the bench pages --------------------------------------------------------------------------

const STATIC: Record<string, { file: string; type: string }> = {
  '/broadcaster.html': { file: path.join(HERE, 'pages', 'broadcaster.html'), type: 'text/html; charset=utf-8' },
  '/broadcaster.js': { file: path.join(HERE, 'pages', 'broadcaster.js'), type: 'text/javascript; charset=utf-8' },
  '/viewer.html': { file: path.join(HERE, 'pages', 'viewer.html'), type: 'text/html; charset=utf-8' },
  '/viewer.js': { file: path.join(HERE, 'pages', 'viewer.js'), type: 'text/javascript; charset=utf-8' },
  '/webm-timing.js': { file: path.join(HERE, 'pages', 'webm-timing.js'), type: 'text/javascript; charset=utf-8' },
  '/pixel-clock.js': { file: path.join(HERE, 'pixel-clock.js'), type: 'text/javascript; charset=utf-8' },
  '/hls.min.js': { file: path.join(ROOT, 'node_modules', 'hls.js', 'dist', 'hls.min.js'), type: 'text/javascript; charset=utf-8' },
  // The watch page's catch-up (TypeScript, transpiled as served), so the viewer plays exactly as the product does.
  '/catch-up.js': { file: path.join(ROOT, 'app', 'watch', 'catch-up.ts'), type: 'text/javascript; charset=utf-8' },
  '/part-prefetch.js': { file: path.join(ROOT, 'app', 'watch', 'part-prefetch.ts'), type: 'text/javascript; charset=utf-8' },
  // The watch page's realtime player and the sibling modules it imports (served as /player/<name>.js).
  ...Object.fromEntries(
    ['realtime-player', 'append-queue', 'fmp4-codecs', 'realtime-buffer', 'media'].map((n) => [
      `/player/${n}.js`,
      { file: path.join(ROOT, 'app', 'watch', 'player', `${n}.ts`), type: 'text/javascript; charset=utf-8' },
    ]),
  ),
};

function servedBody(file: string): Buffer | string {
  const source = readFileSync(file);
  if (!file.endsWith('.ts')) return source;
  const js = ts.transpileModule(source.toString('utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  // Sibling imports (`from './x'`) as the browser needs them: served paths with the extension.
  return js.replace(/from '\.\/([a-z0-9-]+)'/g, "from '/player/$1.js'");
}

async function startPagesServer(listenPort: number): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    const f = STATIC[p];
    if (p === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (!f) {
      log(`bench pages: 404 ${p}`);
      res.writeHead(404).end('not found');
      return;
    }
    try {
      const body = servedBody(f.file);
      res.writeHead(200, { 'Content-Type': f.type, 'Cache-Control': 'no-store' }).end(body);
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---- results ----------------------------------------------------------------------------------

interface ViewerCollect {
  seconds: number;
  frames: number;
  read: number;
  rejected: Record<string, number>;
  repeats: number;
  latency: number[];
  bufferAhead: number[];
  hlsLatency: number[];
  targetLatency: number[];
  pdtLatency: number[];
  pixelMinusPdt: number[];
  playbackRate: number[];
  timeline?: Array<Array<number | null>>;
  events?: unknown[];
  loadAge: number[];
  loads: number;
  segmentLoads: number;
  lateLoads: unknown[];
  waiting: number;
  stalls: number;
  holeFrames: number;
  holes: unknown[];
  maxRanges: number;
  errors: string[];
  dropped: number;
  decoded: number;
  presented: number;
  received: number | null;
  visibility: string;
  resolution: string | null;
  readPath: string | null;
  /** The watch page's prefetch counters (part-prefetch.ts PrefetchCounts), null without it. */
  prefetch: Record<string, unknown> | null;
}

interface ModeResult {
  mode: Mode;
  label: string;
  seconds: number;
  frames: number;
  read: number;
  rejected: number;
  rejectedBy: Record<string, number>;
  medianMs: number;
  p95Ms: number;
  /** For the RTMP pull (frames as they arrive, unpaced): the least constant delay that has 99 % of its frames on time. */
  p99Ms?: number;
  minMs: number;
  maxMs: number;
  stalls: number;
  extra: Record<string, number | string>;
  cpu: { machinePct: number; serverPct: number; load1: number };
  ingest: unknown;
  timeline?: Array<Array<number | null>>;
  events?: unknown[];
  /** Where the time goes before the player, ms (median / p95 over the window). */
  path?: PathTiming;
}

interface Dist {
  median: number;
  p95: number;
  n: number;
}
interface PathTiming {
  /** capture -> MediaRecorder hands the frame out (ondataavailable), video frames. */
  recorderVideo: Dist;
  recorderAudio: Dist;
  /** capture -> the packet reaches our RTMP relay (after the ingest ffmpeg). */
  relayVideo: Dist;
  relayAudio: Dist;
  /** Video timestamp gaps > 100 ms at the relay (frames missing), and the largest gap. */
  videoGapsOver100: number;
  maxVideoGapMs: number;
  /** Audio timestamp steps > 50 ms at the relay (holes in the audio timeline), and the largest. */
  audioGapsOver50: number;
  maxAudioGapMs: number;
  /** Media ms per wall ms at the relay over the window, per track (1 = real time; > 1: the timeline runs fast). */
  videoRate: number | null;
  audioRate: number | null;
}
const dist = (xs: number[]): Dist => ({ median: median(xs), p95: quantile(xs, 0.95), n: xs.length });

function fromViewer(mode: Mode, c: ViewerCollect, cpu: ModeResult['cpu'], ingest: unknown): ModeResult {
  const rejected = Object.values(c.rejected).reduce((a, b) => a + b, 0);
  const pixelMinusPdt = median(c.pixelMinusPdt);
  const extra: Record<string, number | string> = {
    presentedFps: c.frames / c.seconds,
    bufferAheadMs: median(c.bufferAhead) * 1000,
    hlsLatencyMs: median(c.hlsLatency) * 1000,
    targetLatencyMs: median(c.targetLatency) * 1000,
    targetLatencyMaxMs: Math.max(...c.targetLatency.filter(Number.isFinite)) * 1000,
    meanPlaybackRate: mean(c.playbackRate),
    pdtLatencyMs: median(c.pdtLatency),
    pixelMinusPdtMs: pixelMinusPdt,
    // How old the newest media in a part/segment was when hls.js had it loaded (PDT-based; corrected by the
    // PDT anchor error measured above, so on the pixel clock's scale).
    loadAgeMs: Number.isFinite(pixelMinusPdt) ? median(c.loadAge) + pixelMinusPdt : NaN,
    loadAgeP95Ms: Number.isFinite(pixelMinusPdt) ? quantile(c.loadAge, 0.95) + pixelMinusPdt : NaN,
    loadsPerSecond: c.loads / c.seconds,
    wholeSegmentLoadsInLL: c.segmentLoads,
    waitingEvents: c.waiting,
    framesWithBufferHoles: c.holeFrames,
    maxBufferedRanges: c.maxRanges,
    droppedFrames: c.dropped,
    // Frames decoded (getVideoPlaybackQuality().totalVideoFrames) and shown (rVFC presentedFrames) per second, and
    // (realtime) the video frames its socket brought: a frame lost between MSE and the decoder shows here.
    decodedFps: c.decoded / c.seconds,
    compositorFps: c.presented / c.seconds,
    ...(c.received !== null ? { receivedFps: c.received / c.seconds } : {}),
    repeats: c.repeats,
    visibility: c.visibility,
    readPath: c.readPath ?? '-',
  };
  if (c.holes.length) extra.bufferHoles = JSON.stringify(c.holes.slice(0, 8));
  if (c.lateLoads.length) extra.lateLoads = JSON.stringify(c.lateLoads.slice(0, 8));
  if (c.errors.length) extra.errors = [...new Set(c.errors)].slice(0, 6).join(', ');
  if (c.prefetch) extra.prefetch = JSON.stringify(c.prefetch);
  return {
    mode,
    label: LABEL[mode],
    seconds: c.seconds,
    frames: c.frames,
    read: c.read,
    rejected,
    rejectedBy: c.rejected,
    medianMs: median(c.latency),
    p95Ms: quantile(c.latency, 0.95),
    minMs: quantile(c.latency, 0),
    maxMs: quantile(c.latency, 1),
    stalls: c.stalls,
    extra,
    cpu,
    ingest,
    timeline: c.timeline,
    events: c.events,
  };
}

// ---- RTMP reader (ffmpeg decode in Node) ------------------------------------------------------

/** ffmpeg's output options: the frames as 8-bit gray, one canvas-sized frame after the other on stdout. */
const GRAY_OUT = ['-an', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'];

/**
 * Reads the pixel clock from the frames an ffmpeg decoder writes on stdout (gray, canvas size); each frame's time is
 * its arrival here. RTMP: `-fflags nobuffer`, frames as they come. HLS (`-re`): ffmpeg's HLS demuxer (ffplay's)
 * picks the start and fetches; `-re` lets frames out at their timestamps from the first one on, as a player's clock.
 * `feeder` (VLC) writes the stream ffmpeg reads on its stdin.
 */
class FrameReader {
  child: Child;
  feeder: Child | null;
  private frame: Buffer;
  private filled = 0;
  width = WIDTH;
  height = HEIGHT;
  s = this.fresh();

  constructor(name: string, inputArgs: string[], feeder: Child | null = null) {
    const argv = ['-hide_banner', '-nostats', '-loglevel', 'info', ...inputArgs, ...GRAY_OUT];
    this.child = start(name, 'ffmpeg', argv, { stdin: feeder ? 'pipe' : 'ignore' });
    this.feeder = feeder;
    if (feeder) {
      feeder.proc.stdout!.pipe(this.child.proc.stdin!);
      this.child.proc.stdin!.on('error', () => undefined);
    }
    this.frame = Buffer.alloc(this.width * this.height);
    this.child.proc.stdout!.on('data', (d: Buffer) => this.onData(d));
  }

  static rtmp(url: string): FrameReader {
    return new FrameReader('ffmpeg-rtmp-reader', ['-fflags', 'nobuffer', '-flags', 'low_delay', '-threads', '1', '-i', url]);
  }

  /** ffmpeg's HLS demuxer with its defaults (what `ffplay URL` does), paced by `-re`. */
  static hls(url: string): FrameReader {
    return new FrameReader('ffmpeg-hls-reader', ['-threads', '1', '-re', '-i', url]);
  }

  /**
   * VLC 3 with its defaults for the URL (adaptive demuxer: start point, buffering), its stream output remuxing to
   * MPEG-TS on stdout (no transcode), decoded by ffmpeg `-re` (the player's clock). VLC refuses to run as root, so
   * it runs as nobody with a throw-away HOME.
   */
  static vlc(url: string, home: string): FrameReader {
    const vlcArgs = ['-I', 'dummy', '--no-audio', '--no-video-title-show', url, '--sout', '#std{access=file,mux=ts,dst=-}'];
    const asNobody = process.getuid?.() === 0;
    const feeder = asNobody
      ? start('vlc', 'setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', `HOME=${home}`, 'cvlc', ...vlcArgs], { stdout: 'pipe' })
      : start('vlc', 'cvlc', vlcArgs, { stdout: 'pipe', env: { ...process.env, HOME: home } });
    return new FrameReader('ffmpeg-vlc-reader', ['-threads', '1', '-re', '-f', 'mpegts', '-i', 'pipe:0'], feeder);
  }

  fresh() {
    return { since: Date.now(), frames: 0, read: 0, rejected: { ambiguous: 0, checksum: 0, implausible: 0 } as Record<string, number>, latency: [] as number[], repeats: 0, last: -1 };
  }

  private onData(d: Buffer): void {
    let off = 0;
    while (off < d.length) {
      const n = Math.min(d.length - off, this.frame.length - this.filled);
      d.copy(this.frame, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === this.frame.length) {
        this.onFrame(Date.now());
        this.filled = 0;
      }
    }
  }

  private onFrame(now: number): void {
    const s = this.s;
    s.frames++;
    const f = this.frame;
    const w = this.width;
    const h = this.height;
    const luma = (x: number, y: number) => f[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))];
    const d = decodeLevels(sampleLevels(luma, 1));
    if (!d.ok) {
      s.rejected[d.reason]++;
      return;
    }
    const lat = latencyFrom(d.value, now);
    if (lat < -50 || lat > 60_000) {
      s.rejected.implausible++;
      return;
    }
    s.read++;
    if (d.value === s.last) s.repeats++;
    s.last = d.value;
    s.latency.push(lat);
  }

  /** The size ffmpeg reports for its output; must be the canvas size. */
  outputSize(): string | null {
    const m = /Output #0[\s\S]*?Video: rawvideo[^\n]*?, (\d{2,5})x(\d{2,5})/.exec(this.child.stderr);
    return m ? `${m[1]}x${m[2]}` : null;
  }
}

// ---- nginx-rtmp -------------------------------------------------------------------------------

async function startNginx(ng: { bin: string; module: string }): Promise<{ child: Child; rtmpPort: number; httpPort: number; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'latency-nginx-'));
  mkdirSync(path.join(dir, 'hls'));
  mkdirSync(path.join(dir, 'tmp'));
  const rtmpPort = await freePort();
  const httpPort = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `load_module ${ng.module};
daemon off;
master_process off;
worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
rtmp {
  server {
    listen 127.0.0.1:${rtmpPort};
    chunk_size 4096;
    application live {
      live on;
      record off;
      hls on;
      hls_path ${dir}/hls;
      hls_fragment 1s;
      hls_playlist_length 6s;
    }
  }
}
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:${httpPort};
    location /hls/ {
      alias ${dir}/hls/;
      add_header Access-Control-Allow-Origin * always;
      add_header Cache-Control no-cache always;
    }
  }
}
`,
  );
  const child = start('nginx', ng.bin, ['-p', `${dir}/`, '-c', conf, '-e', `${dir}/error.log`]);
  try {
    await waitUntil('nginx to listen', 10_000, async () => (await tcpOpen(rtmpPort)) && (await tcpOpen(httpPort)));
  } catch (err) {
    await stop(child);
    let tail = '';
    try {
      tail = readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-1500);
    } catch {
      /* none */
    }
    throw new Error(`nginx did not start: ${(err as Error).message}; ${tail}`);
  }
  return { child, rtmpPort, httpPort, dir };
}

// ---- main -------------------------------------------------------------------------------------

const results: ModeResult[] = [];
const facts: Record<string, unknown> = {};
let server: Child | null = null;
let browser: Browser | null = null;
let pages: { port: number; close: () => Promise<void> } | null = null;
let cleaning: Promise<void> | null = null;

async function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    if (browser) await Promise.race([browser.close().catch(() => undefined), sleep(10_000)]);
    for (const c of [...children]) if (c !== server) await stop(c);
    await stop(server, 6000);
    if (pages) await pages.close();
  })();
  return cleaning;
}

const budgetMs = (120 + modes.length * (warmup + seconds + 60)) * 1000;
const watchdog = setTimeout(() => {
  log(`watchdog: the run took longer than ${Math.round(budgetMs / 1000)} s; stopping`);
  void cleanup().finally(() => process.exit(2));
}, budgetMs);
watchdog.unref();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  log(`modes ${modes.join(',')}, ${warmup} s warm-up + ${seconds} s measured each, MediaRecorder timeslice ${timeslice} ms`);
  const ng = modes.includes('nginx') ? ensureNginx(log) : null;
  // The broadcaster page is on the pages server's origin: the server takes /ingest WebSockets only from its own
  // origin or PUBLIC_URL's, so PUBLIC_URL names the pages origin.
  pages = await startPagesServer(await freePort());
  const pagesBase = `http://127.0.0.1:${pages.port}`;
  const viewerBase = `http://localhost:${pages.port}`;
  server = start('server', process.execPath, ['--import', 'tsx', path.join(HERE, 'serve.ts')], {
    stdin: 'pipe',
    env: {
      ...process.env,
      PORT: '0',
      RTMP_PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      // The broadcaster page is served from the pages server: /ingest accepts the page's Origin (as a deploy's own).
      PUBLIC_URL: pagesBase,
      ...(args['ingest-out-args'] ? { FFMPEG_PATH: path.join(HERE, 'ffmpeg-wrap.sh'), LATENCY_INGEST_OUT_ARGS: args['ingest-out-args'] } : {}),
    },
  });
  const ready = await waitJsonLine<{ httpPort: number; rtmpPort: number; ffmpeg: string | null }>(server, (o) => o.event === 'ready', 60_000);
  if (!ready.ffmpeg) throw new Error('the server found no ffmpeg: browser ingest unavailable');
  const base = `http://127.0.0.1:${ready.httpPort}`;
  log(`server pid ${server.proc.pid}: http ${ready.httpPort}, rtmp ${ready.rtmpPort}, ffmpeg ${ready.ffmpeg}`);

  const { id, key } = await createBenchStream(base, 'latency bench');

  browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
  });
  facts.chromium = browser.version();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const watchConsole = (p: Page, name: string) => {
    p.on('pageerror', (err) => log(`${name} page error: ${err.message}`));
    p.on('console', (m) => {
      if (m.type() === 'error') log(`${name} console: ${m.text().slice(0, 300)}`);
      // Diagnosis: with --hls '{"debug":true}' and CONSOLE_LOG=file, every console line of the pages goes to file.
      if (process.env.CONSOLE_LOG) appendFileSync(process.env.CONSOLE_LOG, `${new Date().toISOString().slice(11, 23)} ${name} ${m.text().slice(0, 400)}\n`);
    });
  };

  const bq = new URLSearchParams({ ws: `ws://127.0.0.1:${ready.httpPort}/ingest`, id, key, timeslice: String(timeslice), audio: args['no-audio'] ? '0' : '1' });
  const bpage = await context.newPage();
  watchConsole(bpage, 'broadcaster');
  await bpage.goto(`${pagesBase}/broadcaster.html?${bq}`);
  type BState = { phase: string; error: string | null; serverStats: { ingest?: { fps: number; speed: number; frames: number }; bufferedBytes?: number; struggling?: boolean; clockOffsetMs?: number } | null; chunkGaps: number[]; maxBufferedAmount: number; visibility: string; drawn: number; audio: string | null };
  const bstate = () => bpage.evaluate(() => (window as unknown as { bench: { state: unknown } }).bench.state) as Promise<BState>;
  await waitUntil('the broadcast to go live', 30_000, async () => {
    const s = await bstate();
    if (s.error || s.phase === 'failed' || s.phase === 'closed') throw new Error(`broadcaster: ${s.phase} ${s.error ?? ''}`);
    return s.phase === 'live';
  });
  const checkBroadcaster = async (): Promise<BState> => {
    const s = await bstate();
    if (s.error || s.phase !== 'live') throw new Error(`broadcaster is ${s.phase}: ${s.error ?? ''} ${JSON.stringify({ ...s, chunkGaps: undefined })}`);
    return s;
  };
  const hlsUrl = `${base}/hls/${id}/index.m3u8`;
  await waitUntil('the LL-HLS playlist', 30_000, async () => (await checkBroadcaster()) && httpOk(hlsUrl));
  log(`live: stream ${id}, ${hlsUrl}`);
  /** Sleep `ms` while checking once a second that the broadcast is still up. */
  const hold = async (ms: number, extraCheck?: () => void) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      await sleep(Math.min(1000, end - Date.now()));
      await checkBroadcaster();
      extraCheck?.();
    }
  };
  type Ages = { video: number[]; audio: number[] };
  const takeRecorderAges = () => bpage.evaluate(() => (window as unknown as { bench: { takeRecorderAges(): unknown } }).bench.takeRecorderAges()) as Promise<Ages>;
  const srv = server;
  const takeRelayAges = async () => {
    const p = waitJsonLine<Ages & { videoGapsOver100: number; maxVideoGapMs: number; audioGapsOver50: number; maxAudioGapMs: number; videoRate: number | null; audioRate: number | null }>(srv, (o) => o.event === 'probe', 10_000);
    srv.proc.stdin!.write('probe\n');
    return p;
  };
  /** What the broadcast did over a window: canvas frames drawn and frames ffmpeg ingested per second. */
  const broadcastWindow = async () => {
    const s0 = await checkBroadcaster();
    await takeRecorderAges();
    await takeRelayAges();
    const t0 = Date.now();
    const pathTiming = async (): Promise<PathTiming> => {
      const rec = await takeRecorderAges();
      const relay = await takeRelayAges();
      return {
        recorderVideo: dist(rec.video),
        recorderAudio: dist(rec.audio),
        relayVideo: dist(relay.video),
        relayAudio: dist(relay.audio),
        videoGapsOver100: relay.videoGapsOver100,
        maxVideoGapMs: relay.maxVideoGapMs,
        audioGapsOver50: relay.audioGapsOver50,
        maxAudioGapMs: relay.maxAudioGapMs,
        videoRate: relay.videoRate,
        audioRate: relay.audioRate,
      };
    };
    return async () => {
      const path = await pathTiming();
      const s = await checkBroadcaster();
      const sec = (Date.now() - t0) / 1000;
      return {
        drawnFps: Math.round(((s.drawn - s0.drawn) / sec) * 10) / 10,
        ingestedFps: Math.round((((s.serverStats?.ingest?.frames ?? 0) - (s0.serverStats?.ingest?.frames ?? 0)) / sec) * 10) / 10,
        ingestSpeed: s.serverStats?.ingest?.speed,
        bufferedBytes: s.serverStats?.bufferedBytes,
        struggling: s.serverStats?.struggling,
        clockOffsetMs: s.serverStats?.clockOffsetMs,
        chunkGapMedianMs: median(s.chunkGaps),
        maxWsBufferedAmount: s.maxBufferedAmount,
        broadcasterVisibility: s.visibility,
        path,
      };
    };
  };

  const runViewer = async (mode: Mode, src: string, ll: boolean, opts: { rt?: string; stock?: boolean } = {}): Promise<ModeResult> => {
    const rt = opts.rt ?? '';
    const stock = opts.stock ?? false;
    const vpage = await context.newPage();
    watchConsole(vpage, mode);
    try {
      // `localhost`, not 127.0.0.1: another site, so the viewer gets its own renderer process (main thread)
      // instead of sharing the broadcaster's.
      await vpage.goto(`${viewerBase}/viewer.html?${new URLSearchParams({ src, rt, ll: ll ? '1' : '0', stock: stock ? '1' : '0', label: mode, catchup: args['no-catch-up'] ? '0' : '1', prefetch: args['no-prefetch'] ? '0' : '1', hls: JSON.stringify({ ...(stock ? {} : WATCH_HLS_CONFIG), ...(JSON.parse(args.hls!) as object) }) })}`);
      await vpage.bringToFront();
      await hold(warmup * 1000);
      const warm = await vpage.evaluate(() => (window as unknown as { bench: { collect(): unknown } }).bench.collect()) as ViewerCollect;
      log(`${mode}: warm-up read ${warm.read}/${warm.frames} frames, last latency ${warm.latency.at(-1) ?? '-'} ms`);
      const cpu = new CpuWindow(server?.proc.pid);
      const bw = await broadcastWindow();
      // Do the parts our server serves join up? (A hole in a track is a hole in the buffered ranges.)
      const checker = mode === 'nginx' || mode === 'realtime' ? null : new PartsChecker(src);
      let checkError: string | null = null;
      const following = checker?.follow(Date.now() + seconds * 1000).catch((err: Error) => (checkError = err.message));
      await hold(seconds * 1000);
      await Promise.race([following, sleep(6000)]);
      const c = (await vpage.evaluate(() => (window as unknown as { bench: { collect(): unknown } }).bench.collect())) as ViewerCollect;
      if (c.resolution) log(`${mode}: frames of ${c.resolution} rejected`);
      const { path: pt, ...ingest } = await bw();
      const r = fromViewer(mode, c, cpu.read(), ingest);
      r.path = pt;
      r.extra.playlist = await playlistFacts(src);
      if (checker) r.extra.partsCheck = JSON.stringify(checkError ? { error: checkError, ...checker.result } : checker.result);
      return r;
    } finally {
      await vpage.close().catch(() => undefined);
    }
  };

  for (const mode of modes) {
    log(`--- ${mode}: ${LABEL[mode]}`);
    let r: ModeResult;
    if (mode === 'll' || mode === 'plain' || mode === 'hlsjs-stock') {
      r = await runViewer(mode, hlsUrl, mode !== 'plain', { stock: mode === 'hlsjs-stock' });
    } else if (mode === 'realtime') {
      r = await runViewer(mode, hlsUrl, false, { rt: `${base.replace(/^http/, 'ws')}/realtime/${id}` });
    } else if (mode === 'rtmp' || mode === 'ffmpeg-hls' || mode === 'vlc-hls') {
      const vlcHome = mode === 'vlc-hls' ? await mkdtemp(path.join(os.tmpdir(), 'latency-vlc-')) : null;
      if (vlcHome) chmodSync(vlcHome, 0o777);
      const reader =
        mode === 'rtmp' ? FrameReader.rtmp(`rtmp://127.0.0.1:${ready.rtmpPort}/live/${id}`) : vlcHome ? FrameReader.vlc(hlsUrl, vlcHome) : FrameReader.hls(hlsUrl);
      try {
        const alive = () => {
          if (reader.child.done) throw new Error(`ffmpeg reader exited: ${reader.child.stderr.slice(-500)}`);
          if (reader.feeder?.done) throw new Error(`vlc exited: ${reader.feeder.stderr.slice(-500)}`);
        };
        await hold(warmup * 1000, alive);
        const size = reader.outputSize();
        if (size && size !== `${WIDTH}x${HEIGHT}`) throw new Error(`ffmpeg reader outputs ${size}, expected ${WIDTH}x${HEIGHT}`);
        log(`${mode}: warm-up read ${reader.s.read}/${reader.s.frames} frames, last latency ${reader.s.latency.at(-1) ?? '-'} ms`);
        reader.s = reader.fresh();
        const cpu = new CpuWindow(server.proc.pid);
        const bw = await broadcastWindow();
        await hold(seconds * 1000, alive);
        const s = reader.s;
        const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
        r = {
          mode,
          label: LABEL[mode],
          seconds: (Date.now() - s.since) / 1000,
          frames: s.frames,
          read: s.read,
          rejected,
          rejectedBy: s.rejected,
          medianMs: median(s.latency),
          p95Ms: quantile(s.latency, 0.95),
          p99Ms: quantile(s.latency, 0.99),
          minMs: quantile(s.latency, 0),
          maxMs: quantile(s.latency, 1),
          stalls: 0,
          extra: { repeats: s.repeats, fps: s.frames / ((Date.now() - s.since) / 1000) },
          cpu: cpu.read(),
          ingest: null,
        };
        const { path: pt, ...ingest } = await bw();
        r.ingest = ingest;
        r.path = pt;
      } finally {
        await stop(reader.feeder);
        await stop(reader.child);
        if (vlcHome) await rm(vlcHome, { recursive: true, force: true }).catch(() => undefined);
      }
    } else {
      const n = await startNginx(ng!);
      facts.nginx = ng!.version;
      const relay = start('ffmpeg-relay', 'ffmpeg', ['-hide_banner', '-nostats', '-loglevel', 'error', '-i', `rtmp://127.0.0.1:${ready.rtmpPort}/live/${id}`, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${n.rtmpPort}/live/ref`]);
      try {
        const refUrl = `http://127.0.0.1:${n.httpPort}/hls/ref.m3u8`;
        await waitUntil('nginx HLS playlist', 30_000, () => {
          if (relay.done) throw new Error(`relay ffmpeg exited: ${relay.stderr.slice(-500)}`);
          return httpOk(refUrl);
        });
        r = await runViewer(mode, refUrl, false);
        if (relay.done) throw new Error(`relay ffmpeg exited: ${relay.stderr.slice(-500)}`);
      } finally {
        await stop(relay);
        await stop(n.child);
        await rm(n.dir, { recursive: true, force: true }).catch(() => undefined);
      }
    }
    results.push(r);
    log(`${mode}: median ${fmt(r.medianMs)} ms, p95 ${fmt(r.p95Ms)} ms, read ${r.read}, rejected ${r.rejected} (${JSON.stringify(r.rejectedBy)})`);
  }
}

function report(): void {
  const lines = [
    '| mode | median ms | p95 ms | min–max ms | frames read / rejected | stalls | player buffer ahead ms (median) | CPU busy % (load) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const ahead = r.extra.bufferAheadMs;
    lines.push(
      `| ${r.label} | ${fmt(r.medianMs)} | ${fmt(r.p95Ms)} | ${fmt(r.minMs)}–${fmt(r.maxMs)} | ${r.read} / ${r.rejected} | ${r.stalls} | ${typeof ahead === 'number' ? fmt(ahead) : '-'} | ${fmt(r.cpu.machinePct)} (${fmt(r.cpu.load1, 1)}) |`,
    );
  }
  const variant = `timeslice ${timeslice} ms${args['no-audio'] ? ', no audio' : ''}${args['no-catch-up'] ? ', no catch-up' : ''}${args['no-prefetch'] ? ', no prefetch' : ''}${args.hls !== '{}' ? `, hls.js ${args.hls}` : ''}${args['ingest-out-args'] ? `, ingest ffmpeg + ${args['ingest-out-args']}` : ''}`;
  console.log(`\nGlass-to-glass latency, ${seconds} s per mode after ${warmup} s warm-up (${variant}):\n`);
  console.log(lines.join('\n'));
  console.log('\nWhere the time goes (median / p95, ms from capture):\n');
  console.log('| mode | frame out of MediaRecorder | packet at our RTMP relay | newest media in a loaded part/segment | player buffer ahead | on screen (glass-to-glass) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const p = r.path;
    const d = (x: Dist | undefined) => (x && x.n ? `${fmt(x.median)} / ${fmt(x.p95)}` : '-');
    const la = r.extra.loadAgeMs;
    const ba = r.extra.bufferAheadMs;
    console.log(
      `| ${r.mode} | ${d(p?.recorderVideo)} | ${d(p?.relayVideo)} | ${typeof la === 'number' && Number.isFinite(la) ? `${fmt(la)} / ${fmt(r.extra.loadAgeP95Ms as number)}` : '-'} | ${typeof ba === 'number' ? fmt(ba) : '-'} | ${fmt(r.medianMs)} / ${fmt(r.p95Ms)} |`,
    );
  }
  console.log('\nDetails:');
  for (const r of results) {
    const e = Object.entries(r.extra)
      .map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v, Math.abs(v) < 10 ? 2 : 0) : v}`)
      .join(' ');
    const p = r.path;
    const pathText = p
      ? `; audio out of MediaRecorder ${fmt(p.recorderAudio.median)} ms, audio at relay ${fmt(p.relayAudio.median)} ms, video gaps >100 ms at relay ${p.videoGapsOver100} (max ${fmt(p.maxVideoGapMs)} ms), audio gaps >50 ms ${p.audioGapsOver50} (max ${fmt(p.maxAudioGapMs)} ms), media time per wall second at the relay: video ${fmt(p.videoRate ?? NaN, 4)}, audio ${fmt(p.audioRate ?? NaN, 4)}`
      : '';
    console.log(`- ${r.mode}: ${e}; server CPU ${fmt(r.cpu.serverPct)}% of a core; ingest ${JSON.stringify(r.ingest)}${pathText}`);
  }
  const ll = results.find((r) => r.mode === 'll');
  const rtmp = results.find((r) => r.mode === 'rtmp');
  if (ll) console.log(`\nGoal LL-HLS median <= 1000 ms: ${ll.medianMs <= 1000 ? 'met' : 'NOT met'} (${fmt(ll.medianMs)} ms)`);
  const stock = results.find((r) => r.mode === 'hlsjs-stock');
  if (stock) console.log(`Goal stock hls.js median <= 1500 ms (issue #17): ${stock.medianMs <= 1500 ? 'met' : 'NOT met'} (${fmt(stock.medianMs)} ms)`);
  if (rtmp) console.log(`Goal RTMP median <= 500 ms: ${rtmp.medianMs <= 500 ? 'met' : 'NOT met'} (${fmt(rtmp.medianMs)} ms)`);
  const rt = results.find((r) => r.mode === 'realtime');
  if (rt) {
    const stalls = Number(rt.extra.waitingEvents ?? NaN);
    const perMin = (stalls * 60) / rt.seconds;
    console.log(`Goal realtime median <= 450 ms, p95 <= 600 ms (issue #17): ${rt.medianMs <= 450 && rt.p95Ms <= 600 ? 'met' : 'NOT met'} (${fmt(rt.medianMs)} / ${fmt(rt.p95Ms)} ms)`);
    console.log(`Goal realtime 0 stalls in 60 s: ${stalls === 0 ? 'met' : 'NOT met'} (${fmt(stalls)} 'waiting' in ${fmt(rt.seconds)} s, ${fmt(perMin, 1)} a minute)`);
    if (rtmp) {
      const ratio = rt.medianMs / rtmp.medianMs;
      console.log(`Goal realtime median <= 1.3x the RTMP pull's: ${ratio <= 1.3 ? 'met' : 'NOT met'} (${fmt(ratio, 2)}x of ${fmt(rtmp.medianMs)} ms)`);
      // The RTMP pull's figure is each frame's arrival, unpaced: a frame of a 100 ms recorder chunk that came early
      // counts less than the chunk's last. A player that shows frames at a steady pace has to wait for the late ones.
      if (rtmp.p99Ms !== undefined) console.log(`  the RTMP pull's p99 (the least steady delay with 99 % of its frames on time): ${fmt(rtmp.p99Ms)} ms; realtime median ÷ it: ${fmt(rt.medianMs / rtmp.p99Ms, 2)}x`);
    }
  }
  if (args.json) {
    writeFileSync(args.json, JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, seconds, warmup, timeslice, noAudio: args['no-audio'], hls: args.hls, ingestOutArgs: args['ingest-out-args'], facts, results }, null, 2));
    console.log(`\nwrote ${args.json}`);
  }
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  exitCode = 1;
  log(`failed: ${(err as Error).stack ?? err}`);
}
await cleanup();
clearTimeout(watchdog);
if (results.length) report();
process.exit(exitCode);
