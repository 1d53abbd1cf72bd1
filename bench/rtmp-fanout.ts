/**
 * RTMP fan-out benchmark: one 2.5 Mbit/s publisher (ffmpeg, `-c copy` of a pre-encoded 720p
 * H.264/AAC file), N players in one load-generator process (rtmp-players.ts), against our server,
 * nginx-rtmp and node-media-server 4.x, each in its own process whose CPU (utime+stime from
 * /proc/<pid>/stat) and RSS (/proc/<pid>/status) are measured over the steady window.
 *
 *   npx tsx bench/rtmp-fanout.ts [--players 100,500,1000] [--seconds 15] [--servers ours,nginx,nms]
 *     [--rate 200] [--settle 2] [--retries 1] [--max-other 30] [--quiet-wait 10] [--budget 300]
 *     [--nice=-10] [--profile] [--syscalls] [--flush-ms 15] [--video-flush-ms 0] [--warmup 0] [--json out.json]
 *
 * N = 0 measures the servers with the publisher only (baseline).
 * Before each point it waits (at most --quiet-wait s) for the machine to be quiet. A point is run again
 * (--retries, only while the run is younger than --budget s) when other processes on the machine used more
 * than --max-other % of a core during its window; the least disturbed run is kept.
 * --profile runs our server with `node --cpu-prof` (profiles in bench/.cache/profiles).
 * --syscalls counts the server's syscalls during the window with `perf stat` (if perf is installed).
 * --warmup S lets each server run S seconds with the publisher alone before the point starts (players, window), the
 * same for every server: a Node server's JIT compiles its hot paths in the first ~30-60 s of traffic (1.5-2 % of a
 * core at one publisher), which a window that begins ~5 s after start otherwise counts (default 0: as before).
 * --flush-ms sets our RTMP players' write batching window (BENCH_RTMP_FLUSH_MS of bench/serve.ts; 0 = one write per
 * message), --video-flush-ms the one of video frames (BENCH_RTMP_VIDEO_FLUSH_MS); without them, the server's defaults.
 * --nice=-10 runs the servers, ffmpeg and the load generator at that niceness (root only), which shields the
 * measurement from other processes on a shared machine (they get what is left).
 * Everything listens on 127.0.0.1 only; every child is stopped by its PID at the end of its point.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuSeconds, cpuTimes, kernelThreadTimes, kernelThreadsDelta, machineBusyOver, machineTicks, rssMiB, setAutogroupNice } from './proc';
import { LitePlayer } from './rtmp-lite-client';
import { encodeTestFile, ensureNginx, freePort, tcpOpen } from './tools';
import { createBenchStream } from './operator';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = path.join(ROOT, 'bench', '.cache');
const MEDIA = path.join(CACHE, 'media', 'testsrc2-720p30-2500k-aac128k-30s.flv');
const NMS_DIR = path.join(CACHE, 'nms');

type ServerKind = 'ours' | 'nginx' | 'nms';
const ALL_SERVERS: ServerKind[] = ['ours', 'nginx', 'nms'];

const { values: args } = parseArgs({
  options: {
    players: { type: 'string', default: '100,500,1000' },
    seconds: { type: 'string', default: '15' },
    servers: { type: 'string', default: ALL_SERVERS.join(',') },
    rate: { type: 'string', default: '200' },
    settle: { type: 'string', default: '2' },
    profile: { type: 'boolean', default: false },
    json: { type: 'string' },
    retries: { type: 'string', default: '1' },
    syscalls: { type: 'boolean', default: false },
    nice: { type: 'string', default: '0' },
    'max-other': { type: 'string', default: '30' },
    'quiet-wait': { type: 'string', default: '10' },
    budget: { type: 'string', default: '300' },
    warmup: { type: 'string', default: '0' },
    'flush-ms': { type: 'string' },
    'video-flush-ms': { type: 'string' },
  },
});
const playerCounts = args.players!.split(',').map((s) => Number(s.trim())).filter((x) => x >= 0);
const seconds = Number(args.seconds);
const rate = Number(args.rate);
const settle = Number(args.settle);
const retries = Number(args.retries);
const warmup = Number(args.warmup) || 0;
let niceness = Number(args.nice) || 0;
if (niceness < 0 && process.getuid?.() !== 0) {
  console.error('--nice below 0 needs root: ignored');
  niceness = 0;
}
const maxOther = Number(args['max-other']);
const servers = args.servers!.split(',').map((s) => s.trim()) as ServerKind[];
for (const s of servers) if (!ALL_SERVERS.includes(s)) throw new Error(`unknown server ${s} (use ${ALL_SERVERS.join(',')})`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

// ---- /proc ------------------------------------------------------------------------------------

/** Read/write syscalls and bytes of a process (/proc/<pid>/io); null when it is gone. */
function ioCounters(pid: number | undefined): { syscr: number; syscw: number; wchar: number } | null {
  if (!pid) return null;
  try {
    const t = readFileSync(`/proc/${pid}/io`, 'utf8');
    const get = (k: string) => Number(new RegExp(`${k}: (\\d+)`).exec(t)?.[1] ?? NaN);
    return { syscr: get('syscr'), syscw: get('syscw'), wchar: get('wchar') };
  } catch {
    return null;
  }
}

const PERF_EVENTS = [
  'raw_syscalls:sys_enter',
  'syscalls:sys_enter_write',
  'syscalls:sys_enter_writev',
  'syscalls:sys_enter_sendto',
  'syscalls:sys_enter_sendmsg',
  'syscalls:sys_enter_epoll_wait',
  'syscalls:sys_enter_epoll_pwait',
];

/** Syscalls per second of a process over `seconds`, counted by `perf stat` (kernel tracepoints); null without perf. */
function countSyscalls(pid: number, seconds: number): Promise<Record<string, number> | null> {
  return new Promise((resolve) => {
    const child = spawn('perf', ['stat', '-x', ',', '-e', PERF_EVENTS.join(','), '-p', String(pid), '--', 'sleep', String(seconds)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', () => resolve(null));
    child.on('close', () => {
      const out: Record<string, number> = {};
      for (const line of err.split('\n')) {
        const f = line.split(',');
        const ev = f.find((x) => x.includes('sys_enter'));
        if (ev && /^\d+$/.test(f[0])) out[ev.replace(/^(raw_)?syscalls:sys_enter_?/, '') || 'all'] = Math.round(Number(f[0]) / seconds);
      }
      resolve(Object.keys(out).length ? out : null);
    });
  });
}

/** Between points nothing of ours runs: wait (a bounded time) until other users' load is low. */
async function waitQuiet(thresholdPct: number, maxWaitS: number): Promise<number> {
  const deadline = Date.now() + maxWaitS * 1000;
  let load = await machineBusyOver(1000);
  while (load > thresholdPct && Date.now() < deadline) load = await machineBusyOver(1000);
  return Math.round(load);
}

// ---- child processes --------------------------------------------------------------------------

interface Child {
  child: ChildProcess;
  pid: number;
  /** Last lines of stderr and stdout. */
  tail(): string;
  exited: Promise<string>;
  exitInfo: string | null;
  onLine(fn: (line: string) => void): void;
}

const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of liveChildren) if (c.pid) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    for (const c of liveChildren) if (c.pid) c.kill('SIGKILL');
    process.exit(130);
  });
}

function start(cmd: string, argv: string[], env: Record<string, string> = {}): Child {
  // `nice` execs the command: the PID stays the one we measure, and every thread inherits the priority.
  if (niceness !== 0) [cmd, argv] = ['nice', ['-n', String(niceness), cmd, ...argv]];
  // With --nice, each child also gets a session of its own, hence its own scheduler autogroup (Linux
  // shares the CPU between autogroups first, whatever the niceness inside them), and that group's nice.
  const child = spawn(cmd, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: niceness !== 0 });
  if (!child.pid) throw new Error(`could not start ${cmd}`);
  if (niceness !== 0) {
    try {
      setAutogroupNice(child.pid, niceness);
    } catch {
      // no autogroups on this kernel
    }
  }
  liveChildren.add(child);
  let tail = '';
  const listeners: Array<(line: string) => void> = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
    partial += d.toString();
    let i: number;
    while ((i = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      for (const l of listeners) l(line);
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  });
  const c: Child = {
    child,
    pid: child.pid,
    tail: () => tail,
    exitInfo: null,
    exited: new Promise((resolve) => {
      child.on('close', (code, signal) => {
        liveChildren.delete(child);
        c.exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        resolve(c.exitInfo);
      });
    }),
    onLine: (fn) => listeners.push(fn),
  };
  return c;
}

function waitJsonLine<T>(c: Child, pred: (o: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${c.tail()}`)), timeoutMs);
    c.onLine((line) => {
      if (!line.startsWith('{')) return;
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        if (pred(o)) {
          clearTimeout(timer);
          resolve(o as T);
        }
      } catch {
        // not ours
      }
    });
    void c.exited.then((info) => {
      clearTimeout(timer);
      reject(new Error(`${what}: process ${info}: ${c.tail()}`));
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; only this child, by its PID. */
async function stopChild(c: Child | null, graceMs = 4000): Promise<void> {
  if (!c || c.exitInfo !== null) return;
  c.child.kill('SIGTERM');
  const t = setTimeout(() => c.child.kill('SIGKILL'), graceMs);
  await c.exited;
  clearTimeout(t);
}

async function waitTcp(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await tcpOpen(port)) return;
    await sleep(100);
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
}

// ---- preparation ------------------------------------------------------------------------------

function ensureMedia(): void {
  if (existsSync(MEDIA)) return;
  log('encoding the 30 s 720p test file once (libx264 2500k CBR-ish, g=30, AAC 128k) ...');
  encodeTestFile(MEDIA, 44100, 300_000);
}
function mediaInfo(): { kbps: number; duration: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=bit_rate,duration', '-of', 'json', MEDIA]);
  const f = (JSON.parse(r.stdout.toString()) as { format: { bit_rate: string; duration: string } }).format;
  return { kbps: Math.round(Number(f.bit_rate) / 1000), duration: Number(f.duration) };
}

function ensureNms(): string {
  const pkg = path.join(NMS_DIR, 'node_modules', 'node-media-server', 'package.json');
  if (!existsSync(pkg)) {
    log('installing node-media-server@4 into bench/.cache/nms ...');
    mkdirSync(NMS_DIR, { recursive: true });
    const r = spawnSync('npm', ['install', '--prefix', NMS_DIR, '--no-audit', '--no-fund', 'node-media-server@4'], {
      stdio: 'inherit',
      timeout: 300_000,
    });
    if (r.status !== 0 || !existsSync(pkg)) throw new Error('npm install node-media-server@4 failed');
  }
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

// ---- servers ----------------------------------------------------------------------------------

interface RunningTarget {
  kind: ServerKind;
  proc: Child;
  rtmpPort: number;
  publishName: string;
  playName: string;
  /** Extra facts from the server itself at the end of the window (ours only). */
  stats?(): Promise<unknown>;
  cleanup(): Promise<void>;
}

async function startOurs(): Promise<RunningTarget> {
  const nodeArgs = ['--import', 'tsx'];
  if (args.profile) {
    const dir = path.join(CACHE, 'profiles');
    mkdirSync(dir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  const proc = start(process.execPath, [...nodeArgs, 'bench/serve.ts'], {
    PORT: '0',
    RTMP_PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    // The load generator's players all come from 127.0.0.1, which is an outside address like any other.
    RTMP_MAX_CONNECTIONS_PER_ADDRESS: '0',
    ...(args['flush-ms'] !== undefined ? { BENCH_RTMP_FLUSH_MS: args['flush-ms'] } : {}),
    ...(args['video-flush-ms'] !== undefined ? { BENCH_RTMP_VIDEO_FLUSH_MS: args['video-flush-ms'] } : {}),
  });
  const ready = await waitJsonLine<{ httpPort: number; rtmpPort: number }>(proc, (o) => o.event === 'ready', 30_000, 'our server');
  const { id, key } = await createBenchStream(`http://127.0.0.1:${ready.httpPort}`);
  return {
    kind: 'ours',
    proc,
    rtmpPort: ready.rtmpPort,
    publishName: key,
    playName: id,
    async stats() {
      const p = waitJsonLine<{ streams: unknown[]; rtmpConnections: number }>(proc, (o) => o.event === 'stats', 3000, 'stats');
      proc.child.kill('SIGUSR2');
      return p.catch(() => null);
    },
    cleanup: async () => undefined,
  };
}

async function startNginx(ng: { bin: string; module: string }): Promise<RunningTarget> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-nginx-'));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `load_module ${ng.module};
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 16384;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 8192; }
rtmp {
  server {
    listen 127.0.0.1:${port};
    chunk_size 4096;
    application live { live on; }
  }
}
`,
  );
  const proc = start(ng.bin, ['-p', `${dir}/`, '-c', conf, '-e', `${dir}/error.log`]);
  try {
    await waitTcp(port, 10_000);
  } catch (err) {
    await stopChild(proc);
    throw new Error(`nginx did not start: ${(err as Error).message}; ${readErrorLog(dir)}`);
  }
  return {
    kind: 'nginx',
    proc,
    rtmpPort: port,
    publishName: 'bench',
    playName: 'bench',
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

function readErrorLog(dir: string): string {
  try {
    return readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2000);
  } catch {
    return '';
  }
}

async function startNms(): Promise<RunningTarget> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-nms-'));
  const port = await freePort();
  const proc = start(process.execPath, ['--import', 'tsx', 'bench/nms-serve.ts', '--port', String(port), '--nms-dir', NMS_DIR, '--data-dir', dir]);
  await waitJsonLine(proc, (o) => o.event === 'ready', 30_000, 'node-media-server');
  return {
    kind: 'nms',
    proc,
    rtmpPort: port,
    publishName: 'bench',
    playName: 'bench',
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

// ---- one point --------------------------------------------------------------------------------

interface PlayersResult {
  players: number;
  rampS: number;
  allReadyS: number;
  windowS: number;
  tcpConnected: number;
  gotFirstFrame: number;
  streamingAtWindowStart: number;
  openAtWindowEnd: number;
  closedDuringWindow: number;
  gotDataInWindow: number;
  kbps: { median: number | null; p5: number | null; min: number | null; max: number | null; aggregateMbps: number };
  firstFrameMs: { p50: number | null; p95: number | null; max: number | null };
  /** Delivery delay of probe players above their best case (rtmp-players.ts). */
  delayMs?: { probes: number; messages: number; p50: number | null; p95: number | null; p99: number | null; max: number | null };
  loadgen: { cpuPct: number; eventLoopDelayP99Ms: number; eventLoopDelayMaxMs: number };
  stuckPhases: Record<string, number>;
  errors: Record<string, number>;
}

interface PointResult {
  server: ServerKind;
  n: number;
  error?: string;
  serverExit?: string;
  serverCpuPct?: number;
  /** The user and kernel parts of serverCpuPct. */
  serverUserPct?: number;
  serverSysPct?: number;
  /** write-type (write, writev, sendmsg …) and read-type syscalls of the server per second, bytes written (/proc/<pid>/io). */
  serverIo?: { writeSyscallsPerS: number; readSyscallsPerS: number; writtenMBps: number };
  /** With --syscalls: the server's syscalls per second by kind (perf stat). */
  serverSyscallsPerS?: Record<string, number>;
  serverRssMiB?: { atStart: number; max: number; atEnd: number };
  ffmpegCpuPct?: number | null;
  loadgenProcCpuPct?: number | null;
  machineBusyPct?: number;
  /** Kernel threads (ksoftirqd, kworkers: loopback packet processing deferred from our processes). */
  kernelThreadsCpuPct?: number;
  /** Machine busy (in % of one core) minus server, ffmpeg, load generator and kernel threads: other users. */
  otherCpuPct?: number;
  /** Runs of this point (a point is run again when other load during its window exceeded --max-other). */
  attempts?: number;
  /** Machine load (% of one core) just before the point started. */
  loadBeforePct?: number;
  players?: PlayersResult;
  serverStats?: unknown;
}

async function probeUntilFirstFrame(port: number, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => {
        p.stop();
        resolve(false);
      }, Math.max(100, deadline - Date.now()));
      const p = new LitePlayer({
        host: '127.0.0.1',
        port,
        app: 'live',
        name,
        onFirstFrame: () => {
          clearTimeout(t);
          p.stop();
          resolve(true);
        },
        onClose: (pl) => {
          if (pl.firstFrameAt === null) {
            clearTimeout(t);
            last = pl.error ?? 'closed';
            resolve(false);
          }
        },
      });
      p.start();
    });
    if (ok) return;
    await sleep(300);
  }
  throw new Error(`no video from the server within ${timeoutMs} ms (${last})`);
}

const round1 = (v: number) => Math.round(v * 10) / 10;

async function runPoint(kind: ServerKind, n: number, ng: { bin: string; module: string } | null): Promise<PointResult> {
  const result: PointResult = { server: kind, n };
  let target: RunningTarget | null = null;
  let publisher: Child | null = null;
  let loadgen: Child | null = null;
  try {
    target = kind === 'ours' ? await startOurs() : kind === 'nginx' ? await startNginx(ng!) : await startNms();
    const t = target;
    publisher = start('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      '-re', '-stream_loop', '-1', '-i', MEDIA,
      '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${t.rtmpPort}/live/${t.publishName}`,
    ]);
    await probeUntilFirstFrame(t.rtmpPort, t.playName, 20_000);
    await sleep(1000);
    if (warmup > 0) await sleep(warmup * 1000);

    const pub = publisher;
    // ---- the steady window: snapshots of /proc at its start and end
    let srvTimes0: { user: number; sys: number } | null = null;
    let io0: ReturnType<typeof ioCounters> = null;
    let snap0: { srv: number | null; ff: number | null; lg: number | null; k: Map<string, number>; m: { busy: number; total: number }; at: number } | null = null;
    let rss = { atStart: 0, max: 0, atEnd: 0 };
    let sampler: ReturnType<typeof setInterval> | null = null;
    let perf: Promise<Record<string, number> | null> | null = null;
    const beginWindow = (lgPid: number | undefined) => {
      srvTimes0 = cpuTimes(t.proc.pid);
      io0 = ioCounters(t.proc.pid);
      snap0 = { srv: cpuSeconds(t.proc.pid), ff: cpuSeconds(pub.pid), lg: cpuSeconds(lgPid), k: kernelThreadTimes(), m: machineTicks(), at: performance.now() };
      const r0 = rssMiB(t.proc.pid) ?? 0;
      rss = { atStart: r0, max: r0, atEnd: r0 };
      // Our hub's view (subscribers, frames dropped for slow ones) in the middle of the window.
      if (t.stats) {
        const st = t.stats;
        setTimeout(() => void st().then((x) => (result.serverStats = x)), (seconds * 1000) / 2);
      }
      if (args.syscalls) perf = countSyscalls(t.proc.pid, seconds - 0.5);
      sampler = setInterval(() => {
        const r = rssMiB(t.proc.pid);
        if (r !== null) rss.max = Math.max(rss.max, r);
      }, 500);
    };
    const endWindow = (lgPid: number | undefined) => {
      if (!snap0) return;
      const dt = (performance.now() - snap0.at) / 1000;
      const srv = cpuSeconds(t.proc.pid);
      const ff = cpuSeconds(pub.pid);
      const lgc = cpuSeconds(lgPid);
      const k = kernelThreadTimes();
      const m = machineTicks();
      if (sampler) clearInterval(sampler);
      rss.atEnd = rssMiB(t.proc.pid) ?? 0;
      rss.max = Math.max(rss.max, rss.atEnd);
      result.serverRssMiB = { atStart: round1(rss.atStart), max: round1(rss.max), atEnd: round1(rss.atEnd) };
      if (srv !== null && snap0.srv !== null) result.serverCpuPct = round1(((srv - snap0.srv) / dt) * 100);
      const io1 = ioCounters(t.proc.pid);
      if (io0 && io1) {
        result.serverIo = {
          writeSyscallsPerS: Math.round((io1.syscw - io0.syscw) / dt),
          readSyscallsPerS: Math.round((io1.syscr - io0.syscr) / dt),
          writtenMBps: round1((io1.wchar - io0.wchar) / dt / 1e6),
        };
      }
      const srvTimes = cpuTimes(t.proc.pid);
      if (srvTimes && srvTimes0) {
        result.serverUserPct = round1(((srvTimes.user - srvTimes0.user) / dt) * 100);
        result.serverSysPct = round1(((srvTimes.sys - srvTimes0.sys) / dt) * 100);
      }
      result.ffmpegCpuPct = ff !== null && snap0.ff !== null ? round1(((ff - snap0.ff) / dt) * 100) : null;
      result.loadgenProcCpuPct = lgc !== null && snap0.lg !== null ? round1(((lgc - snap0.lg) / dt) * 100) : null;
      result.machineBusyPct = round1(((m.busy - snap0.m.busy) / Math.max(1, m.total - snap0.m.total)) * 100);
      // CPU used by everything else on the machine: other users' processes, and kernel work not charged to our PIDs.
      result.kernelThreadsCpuPct = round1((kernelThreadsDelta(snap0.k, k) / dt) * 100);
      result.otherCpuPct = round1(
        result.machineBusyPct * os.cpus().length -
          (result.serverCpuPct ?? 0) -
          (result.ffmpegCpuPct ?? 0) -
          (result.loadgenProcCpuPct ?? 0) -
          result.kernelThreadsCpuPct,
      );
    };

    if (n === 0) {
      // Baseline: the publisher alone (ours also packages LL-HLS for every live stream).
      await sleep(settle * 1000);
      beginWindow(undefined);
      await sleep(seconds * 1000);
      endWindow(undefined);
      await sleep(300);
    } else {
      loadgen = start(process.execPath, [
        '--import', 'tsx', 'bench/rtmp-players.ts',
        '--port', String(t.rtmpPort), '--name', t.playName,
        '--players', String(n), '--seconds', String(seconds), '--rate', String(rate), '--settle', String(settle),
      ]);
      const lg = loadgen;
      const ended = new Promise<void>((resolve) => {
        lg.onLine((line) => {
          if (!line.startsWith('{')) return;
          let o: Record<string, unknown>;
          try {
            o = JSON.parse(line) as Record<string, unknown>;
          } catch {
            return;
          }
          if (o.event === 'ramp-done') log(`  ${kind} N=${n}: ramp done in ${Number(o.rampS).toFixed(1)} s`);
          if (o.event === 'steady-start') beginWindow(lg.pid);
          if (o.event === 'steady-end') endWindow(lg.pid);
          if (o.event === 'result') {
            result.players = o as unknown as PlayersResult;
            resolve();
          }
        });
        void lg.exited.then(() => resolve());
      });
      const limitS = n / rate + 15 + settle + seconds + 40;
      const killer = setTimeout(() => lg.child.kill('SIGKILL'), limitS * 1000);
      await ended;
      await lg.exited;
      clearTimeout(killer);
      await sleep(300); // let the stats line arrive
      if (!result.players) result.error = `load generator ${lg.exitInfo}: ${lg.tail().slice(-500)}`;
    }
    if (sampler) clearInterval(sampler);
    if (perf) result.serverSyscallsPerS = (await perf) ?? undefined;
    if (t.proc.exitInfo !== null) result.serverExit = `${t.proc.exitInfo}: ${t.proc.tail().slice(-800)}`;
  } catch (err) {
    result.error = (err as Error).message.slice(0, 1000);
    if (target?.proc.exitInfo) result.serverExit = target.proc.exitInfo;
  } finally {
    await stopChild(loadgen, 1000);
    await stopChild(publisher, 2000);
    await stopChild(target?.proc ?? null, 5000);
    await target?.cleanup().catch(() => undefined);
  }
  return result;
}

// ---- report -----------------------------------------------------------------------------------

const LABEL: Record<ServerKind, string> = { ours: 'ours', nginx: 'nginx-rtmp', nms: 'node-media-server' };
const fmt = (v: number | null | undefined, d = 0) => (v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(d));

function table(results: PointResult[], sourceKbps: number): string {
  const rows = [
    '| N | server | players with data / N | server CPU % (1 core) (user + sys) | players per core | server RSS MiB (max) | kbit/s per player median / p5 | first frame ms p50 / p95 | delivery delay ms p50 / p99 | load gen CPU % | ffmpeg CPU % | kernel threads CPU % | other processes CPU % |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const p = r.players;
    const failed =
      (r.error || r.serverExit ? ` ⚠ ${r.serverExit ? `server ${r.serverExit.split(':')[0]}` : 'error'}` : '') +
      ((r.otherCpuPct ?? 0) > maxOther ? ' †' : '');
    const cpu = r.serverCpuPct;
    const perCore = cpu && r.n > 0 ? r.n / (cpu / 100) : null;
    rows.push(
      `| ${r.n} | ${LABEL[r.server]}${failed} | ${p ? `${p.gotDataInWindow} / ${r.n}` : '–'} | ${fmt(cpu, 1)} (${fmt(r.serverUserPct)} + ${fmt(r.serverSysPct)}) | ${fmt(perCore)} | ${fmt(r.serverRssMiB?.max)} | ${
        p ? `${fmt(p.kbps.median)} / ${fmt(p.kbps.p5)}` : '–'
      } | ${p ? `${fmt(p.firstFrameMs.p50)} / ${fmt(p.firstFrameMs.p95)}` : '–'} | ${p?.delayMs ? `${fmt(p.delayMs.p50)} / ${fmt(p.delayMs.p99)}` : '–'} | ${fmt(r.loadgenProcCpuPct ?? p?.loadgen.cpuPct)} | ${fmt(r.ffmpegCpuPct)} | ${fmt(r.kernelThreadsCpuPct)} | ${fmt(r.otherCpuPct)} |`,
    );
  }
  rows.push(
    '',
    `CPU columns are % of one core over the steady window (the machine has ${os.cpus().length}). Loopback TCP work done in a process's syscalls is charged to that process; "kernel threads" is what ksoftirqd/kworkers did meanwhile; "other processes" is everything else busy on the machine (other users).`,
    `† other processes used more than ${maxOther}% of a core during the window even after ${retries} retr${retries === 1 ? 'y' : 'ies'}: the numbers are disturbed.`,
    `Source stream: ${sourceKbps} kbit/s (video 2500k + AAC 128k, FLV container).`,
    'Delivery delay: for each media message a probe player (the first and the last to connect) got, arrival time − RTMP timestamp, minus its minimum over the window: the delay above the best case (publisher pacing, server, batching).',
  );
  return rows.join('\n');
}

function ratios(results: PointResult[]): string {
  const get = (k: ServerKind, n: number) => results.find((r) => r.server === k && r.n === n);
  const ratio = (a?: number, b?: number) => (a && b ? (a / b).toFixed(2) : '–');
  const rows = ['| N | CPU ours / nginx | CPU ours / nms | RSS ours / nginx | RSS ours / nms |', '|---:|---:|---:|---:|---:|'];
  for (const n of playerCounts) {
    const o = get('ours', n);
    const g = get('nginx', n);
    const m = get('nms', n);
    rows.push(
      `| ${n} | ${ratio(o?.serverCpuPct, g?.serverCpuPct)} | ${ratio(o?.serverCpuPct, m?.serverCpuPct)} | ${ratio(o?.serverRssMiB?.max, g?.serverRssMiB?.max)} | ${ratio(o?.serverRssMiB?.max, m?.serverRssMiB?.max)} |`,
    );
  }
  return rows.join('\n');
}

// ---- main -------------------------------------------------------------------------------------

const started = Date.now();
ensureMedia();
const source = mediaInfo();
let ng: { bin: string; module: string; version: string } | null = null;
const versions: Record<string, string> = { node: process.version };
const unavailable: Record<string, string> = {};
if (servers.includes('nginx')) {
  try {
    ng = ensureNginx(log);
    versions.nginx = ng.version;
  } catch (err) {
    unavailable.nginx = (err as Error).message;
  }
}
if (servers.includes('nms')) {
  try {
    versions.nms = ensureNms();
  } catch (err) {
    unavailable.nms = (err as Error).message;
  }
}
const ffv = spawnSync('ffmpeg', ['-version']).stdout.toString().split('\n')[0];
versions.ffmpeg = ffv.replace(/^ffmpeg version (\S+).*/, '$1');
const cpuModel = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
log(`machine: ${os.cpus().length} cores (${cpuModel}), ${Math.round(os.totalmem() / 2 ** 30)} GiB; ${JSON.stringify(versions)}`);
log(`source: ${MEDIA} (${source.kbps} kbit/s, ${source.duration.toFixed(1)} s, looped)`);

const results: PointResult[] = [];
let warnedBusy = false;
for (const n of playerCounts) {
  for (const kind of servers) {
    if (unavailable[kind]) {
      results.push({ server: kind, n, error: `unavailable: ${unavailable[kind]}` });
      continue;
    }
    let r: PointResult | null = null;
    for (let attempt = 1; attempt <= 1 + retries; attempt++) {
      const before = await waitQuiet(maxOther, Number(args['quiet-wait']));
      log(`${kind} N=${n}${attempt > 1 ? ` (attempt ${attempt})` : ''}, machine load before: ${before}% ...`);
      if (before > maxOther && niceness === 0 && !warnedBusy) {
        warnedBusy = true;
        log('  the machine is busy with other work: consider --nice=-10 (as root) to shield the measurement');
      }
      const x = await runPoint(kind, n, ng);
      x.attempts = attempt;
      x.loadBeforePct = before;
      const contended = (x.otherCpuPct ?? 0) > maxOther;
      if (!r || (x.otherCpuPct ?? Infinity) < (r.otherCpuPct ?? Infinity)) r = { ...x, attempts: attempt };
      if (!contended) break;
      if ((Date.now() - started) / 1000 > Number(args.budget)) {
        log(`  other processes used ${fmt(x.otherCpuPct)}% of a core during the window; no retry: past the --budget of ${args.budget} s`);
        break;
      }
      log(`  other processes used ${fmt(x.otherCpuPct)}% of a core during the window (> ${maxOther}%)${attempt <= retries ? ': again' : ''}`);
    }
    r = r!;
    results.push(r);
    const p = r.players;
    log(
      `  ${kind} N=${n}: cpu ${fmt(r.serverCpuPct, 1)}% (user ${fmt(r.serverUserPct)} sys ${fmt(r.serverSysPct)}, ${fmt(r.serverIo?.writeSyscallsPerS)} writes/s) rss ${fmt(r.serverRssMiB?.max)} MiB, data ${p?.gotDataInWindow ?? '–'}/${n}, ` +
        `kbps ${fmt(p?.kbps.median)}/${fmt(p?.kbps.p5)}, ttff ${fmt(p?.firstFrameMs.p50)}/${fmt(p?.firstFrameMs.p95)} ms, ` +
        `delay ${fmt(p?.delayMs?.p50)}/${fmt(p?.delayMs?.p95)}/${fmt(p?.delayMs?.p99)}/${fmt(p?.delayMs?.max)} ms, ` +
        `loadgen ${fmt(p?.loadgen.cpuPct)}%, ffmpeg ${fmt(r.ffmpegCpuPct)}%, kthreads ${fmt(r.kernelThreadsCpuPct)}%, other ${fmt(r.otherCpuPct)}%${r.error ? `, ERROR ${r.error}` : ''}${r.serverExit ? `, SERVER ${r.serverExit}` : ''}`,
    );
    if (p && Object.keys(p.errors).length) log(`  player errors: ${JSON.stringify(p.errors)}`);
    if (r.serverSyscallsPerS) log(`  server syscalls/s: ${JSON.stringify(r.serverSyscallsPerS)}`);
    if (p && Object.keys(p.stuckPhases).length) log(`  players without a frame, by phase: ${JSON.stringify(p.stuckPhases)}`);
    await sleep(1000);
  }
}

const report = {
  date: new Date().toISOString(),
  machine: { cores: os.cpus().length, cpuModel, memGiB: Math.round(os.totalmem() / 2 ** 30) },
  versions,
  options: { players: playerCounts, seconds, rate, settle, warmup, servers, retries, maxOther, nice: niceness, flushMs: args['flush-ms'] ?? 'default', videoFlushMs: args['video-flush-ms'] ?? 'default' },
  source: { file: path.relative(ROOT, MEDIA), ...source },
  results,
  elapsedS: Math.round((Date.now() - started) / 1000),
};
const jsonPath = args.json ?? path.join(CACHE, 'results', `rtmp-fanout-${report.date.replace(/[:.]/g, '-')}.json`);
mkdirSync(path.dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify(report, null, 2));

console.log(`\n## RTMP fan-out (${report.date.slice(0, 10)}, ${report.machine.cores} cores ${cpuModel}, ${seconds} s window per point${warmup ? `, ${warmup} s warm-up with the publisher alone` : ''})\n`);
console.log(table(results, source.kbps));
console.log('\nRatios (lower is better for ours):\n');
console.log(ratios(results));
console.log(`\nRaw results: ${path.relative(ROOT, jsonPath)} (elapsed ${report.elapsedS} s)`);
// Remove stale temporary encodes, if any.
for (const f of readdirSync(path.dirname(MEDIA))) if (f.endsWith('.tmp.flv')) rmSync(path.join(path.dirname(MEDIA), f), { force: true });
process.exit(0);
