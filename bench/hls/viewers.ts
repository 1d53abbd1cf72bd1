/**
 * LL-HLS fan-out benchmark: N low-latency viewers of one 2.5 Mbit/s 720p30 stream.
 *
 *   npx tsx bench/hls/viewers.ts [--viewers 1,100,500,1000] [--seconds 30] [--ramp 10] [--settle 3]
 *     [--profile] [--warmup 0] [--json out.json] [--quiet-wait 20] [--max-other 60] [--plain] [--nice=-10]
 *     [--server-flags=--max-semi-space-size=64] [--client hint|hlsjs|mixed] [--loadgens 1] [--via direct,nginx]
 *
 * --via nginx puts a real nginx (Debian's) running the shipped docs/deploy/nginx-cache.conf between the viewers and
 * the server (`direct,nginx`: each viewer count both ways, one after the other). Variants: `nginx=FILE` runs another
 * config with the same placeholders (bench/hls/nginx/), `nginx:directive=value[+directive=value]` the shipped one with
 * those directives set anew, e.g. `--via direct,nginx,nginx:proxy_cache_lock_timeout=190ms`. Then the table also shows the
 * origin's LL-HLS requests per second (golive_hls_requests_total over the window) and nginx's CPU (master and
 * workers); "server CPU" is the origin's. The part delays are still from the part's creation at the origin to the
 * viewer, so direct vs nginx is the delay the cache adds.
 *
 * Processes per point, all on 127.0.0.1: the server (`node --import tsx server/index.ts
 * --api-only`, fresh for each point), ffmpeg publishing the pre-encoded file in real time
 * (`-re -stream_loop -1 -c copy`), and the load generator (viewer-load.ts, N viewers; K processes
 * with --loadgens K, below). After the ramp and a settle time, over a window of --seconds, it reads
 * from /proc the CPU (utime+stime) of the server, the load generator(s), ffmpeg, kernel threads and
 * the whole machine, and samples the server's RSS every second. Delays come from the load generator
 * (see viewer-load.ts).
 * --loadgens K splits the N viewers over K load generator processes (as evenly as possible, viewer
 * numbers and User-Agents distinct, the same window and ramp). Real viewers are N separate machines;
 * one process simulating them all does their client work (read the playlist, send the next requests,
 * receive ~49 KiB per part) one viewer after the other. At 1000 hls.js viewers, measured with one
 * process, that is ~76 ms of its own serial CPU per part (38 % of a core at 5 parts/s, loop delay p99
 * ~51 ms), and it lands in "part ready → viewer has the part", which is meant to be the server's
 * delay. K processes divide that serial time by K (the machine has 2 cores: K = 2). Each writes its
 * raw receive times (viewer-load.ts --raw-out) and they are summarised together (load-result.ts)
 * exactly as one process measuring all viewers would: percentiles over all samples, and per part the
 * fastest viewer across every process; the server-side probe figures are read once. Load generator
 * CPU is the sum over the processes, its loop delay the largest of theirs. K = 1 (default): one
 * process, which summarises its own result, as before.
 * --warmup S lets each point's server run S seconds with the publisher alone (and its live check) before the viewers
 * start: a fresh Node server spends its first ~30-60 s of traffic JIT-compiling its hot paths (about 1.5-2 % of a core
 * at one stream, concurrent compiler and GC threads included), which a window that begins ~10 s after start counts as
 * the stream's cost (default 0: as before). Keep it under HLS_IDLE_STOP_SECONDS (60): the live check is the last
 * request before the viewers, and an unasked stream stops being packaged after that long.
 * --profile runs the server with `--cpu-prof` (bench/.cache/profiles-hls) and prints where its CPU goes.
 * The server runs with the preload server-probe.ts (exact part creation times; --plain: without it).
 * --nice N runs the children (server, ffmpeg, load generators) at priority N (os.setPriority), for a
 * machine shared with others.
 * --server-flags adds node/V8 flags to the server process (space-separated), e.g. GC settings.
 * --client picks how the simulated viewers fetch parts (see viewer-load.ts): hint (default: a blocking
 * request for the preload-hinted part beside the blocking reload, as our watch page and Safari do),
 * hlsjs (stock hls.js 1.x: the part once the reload lists it), or mixed (half each).
 * BENCH_LOADGEN_NODE_FLAGS (environment) adds node flags to the load generator processes, e.g.
 *   "--cpu-prof --cpu-prof-dir=/tmp/lgprof" to see where the simulated viewers' own time goes.
 * Every child is stopped by its PID at the end of its point; every wait is bounded.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSeconds, kernelThreadsSeconds, machineExtras, machinePct, machineTicks, renice, rssMiB } from '../proc';
import { freePort } from '../tools';
import { startNginxCache, type NginxCache, type NginxCacheVariant } from '../../server/testing/nginx';
import {
  CACHE, ROOT, ensureMedia, fmt, log, parsePlaylist, publishArgs, sleep, wallNow, type Summary,
} from './common';
import { readProbe, summarizeLoad, type LoadResult, type RawLoad } from './load-result';
import { profileReport, summarizeProfile } from './profile-summary';
import { createBenchStream } from '../operator';

/** Every simulated viewer comes from 127.0.0.1: lift the per-address limits (docs/architecture.md, HTTP and LL-HLS limits). */
const LOADGEN_LIMITS = { HTTP_MAX_CONNECTIONS_PER_ADDRESS: '1000000', HLS_MAX_HELD_PER_ADDRESS: '1000000' };

const { values: args } = parseArgs({
  options: {
    viewers: { type: 'string', default: '1,100,500,1000' },
    seconds: { type: 'string', default: '30' },
    ramp: { type: 'string', default: '10' },
    settle: { type: 'string', default: '3' },
    profile: { type: 'boolean', default: false },
    json: { type: 'string' },
    'quiet-wait': { type: 'string', default: '20' },
    warmup: { type: 'string', default: '0' },
    'max-other': { type: 'string', default: '60' },
    plain: { type: 'boolean', default: false },
    nice: { type: 'string', default: '0' },
    'server-flags': { type: 'string', default: '' },
    client: { type: 'string', default: 'hint' },
    loadgens: { type: 'string', default: '1' },
    via: { type: 'string', default: 'direct' },
  },
});
const vias = args.via!.split(',').map((v) => v.trim());
/** What nginx runs for a --via value: null for direct. */
function nginxVariant(via: string): NginxCacheVariant | null {
  if (via === 'direct') return null;
  if (via === 'nginx') return {};
  if (via.startsWith('nginx=')) {
    const confPath = path.resolve(via.slice('nginx='.length));
    if (!existsSync(confPath)) throw new Error(`--via ${via}: no such file`);
    return { confPath };
  }
  if (via.startsWith('nginx:')) {
    const set: Record<string, string> = {};
    for (const kv of via.slice('nginx:'.length).split('+')) {
      const eq = kv.indexOf('=');
      if (eq < 1) throw new Error(`--via ${via}: nginx:directive=value[+directive=value]`);
      set[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    return { set };
  }
  throw new Error(`--via ${via}: direct, nginx, nginx=<conf file> or nginx:directive=value`);
}
for (const v of vias) nginxVariant(v);
const counts = args.viewers!.split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
const seconds = Number(args.seconds);
const rampS = Number(args.ramp);
const settleS = Number(args.settle);
const quietWait = Number(args['quiet-wait']);
const maxOther = Number(args['max-other']);
const niceness = Number(args.nice);
const loadgens = Number(args.loadgens);
if (!Number.isInteger(loadgens) || loadgens < 1) throw new Error(`--loadgens ${args.loadgens}: a whole number ≥ 1`);
/**
 * Children run in sessions of their own (detached: setsid), so with the kernel's autogroup
 * scheduling (on here) the server, the load generator and ffmpeg each compete for the CPU as
 * separate sessions, like separate programs, and not as one share beside the other sessions on
 * the machine. --nice N also sets each child's nice and its autogroup's nice to N.
 */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
function own(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('close', () => children.delete(child));
  if (niceness && child.pid) {
    try {
      renice(child.pid, niceness);
    } catch (err) {
      log(`priority ${niceness} for ${child.pid} failed: ${(err as Error).message}`);
    }
  }
  return child;
}
const PROFILE_DIR = path.join(CACHE, 'profiles-hls');

interface PointResult {
  viewers: number;
  via: string;
  /** LL-HLS requests the origin answered per second over the window. */
  originReqPerSec: number;
  nginxCpuPct: number;
  serverCpuPct: number;
  loadgenCpuPct: number;
  ffmpegCpuPct: number;
  kernelCpuPct: number;
  machineCpuPct: number;
  otherCpuPct: number;
  softirqPct: number;
  stealPct: number;
  rssMiB: { start: number; max: number; end: number };
  load: LoadResult | null;
  profile?: string;
  error?: string;
}

async function stop(child: ChildProcess | null, signal: NodeJS.Signals = 'SIGTERM', graceMs = 8000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('close', r));
  child.kill(signal);
  await Promise.race([done, sleep(graceMs)]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await Promise.race([done, sleep(2000)]);
  }
}

/** Wait (bounded) until the machine is reasonably idle: other sessions share these 2 cores. */
async function waitQuiet(): Promise<number> {
  const deadline = Date.now() + quietWait * 1000;
  let load = 0;
  for (;;) {
    const a = machineTicks();
    await sleep(2000);
    load = machinePct(a, machineTicks());
    if (load <= maxOther || Date.now() > deadline) return load;
    log(`machine busy (${load.toFixed(0)} % of one core from other processes), waiting ...`);
  }
}

/** golive_hls_requests_total from the origin's /metrics. */
async function originRequests(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = /^golive_hls_requests_total (\S+)$/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

async function runPoint(n: number, runTag: string, via: string): Promise<PointResult> {
  const idle = await waitQuiet();
  log(`--- ${n} viewers ${via} (machine load before start: ${idle.toFixed(0)} %)`);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'golive-hls-viewers-'));
  const [port, rtmpPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  // One directory per point: tsx's loader thread writes a profile of its own beside the main thread's.
  const profileDir = path.join(PROFILE_DIR, `${runTag}-n${n}`);
  const probeFile = path.join(CACHE, 'results', `hls-probe-${runTag}-n${n}.txt`);
  mkdirSync(path.dirname(probeFile), { recursive: true });
  const serverFlags = args['server-flags']!.split(' ').filter(Boolean);
  const nodeArgs = [...serverFlags, '--import', 'tsx', ...(args.plain ? [] : ['--import', './bench/hls/server-probe.ts']), ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), 'server/index.ts', '--api-only'];
  const server = own(spawn(process.execPath, nodeArgs, {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), RTMP_PORT: String(rtmpPort), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', NODE_ENV: 'production', RECORD: process.env.RECORD ?? 'off', ...LOADGEN_LIMITS, ...(args.plain ? {} : { HLS_BENCH_PROBE_FILE: probeFile }) },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  }));
  let serverErr = '';
  server.stderr?.on('data', (d: Buffer) => (serverErr = (serverErr + d.toString()).slice(-4000)));
  let ffmpeg: ChildProcess | null = null;
  const lgs: ChildProcess[] = [];
  let nginx: NginxCache | null = null;
  const result: PointResult = {
    viewers: n, via, originReqPerSec: NaN, nginxCpuPct: NaN, serverCpuPct: NaN, loadgenCpuPct: NaN, ffmpegCpuPct: NaN, kernelCpuPct: NaN, machineCpuPct: NaN, otherCpuPct: NaN, softirqPct: NaN, stealPct: NaN,
    rssMiB: { start: NaN, max: NaN, end: NaN }, load: null,
  };
  try {
    // Server up?
    const upBy = Date.now() + 30_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`server exited ${server.exitCode}: ${serverErr}`);
      if (Date.now() > upBy) throw new Error(`server not up after 30 s: ${serverErr}`);
      const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      await sleep(200);
    }
    const { id, key } = await createBenchStream(base);
    ffmpeg = own(spawn('ffmpeg', publishArgs(`rtmp://127.0.0.1:${rtmpPort}/live/${key}`), { stdio: ['ignore', 'ignore', 'pipe'], detached: true }));
    let ffErr = '';
    ffmpeg.stderr?.on('data', (d: Buffer) => (ffErr = (ffErr + d.toString()).slice(-4000)));
    const liveBy = Date.now() + 20_000;
    for (;;) {
      if (Date.now() > liveBy) throw new Error(`no LL-HLS parts after 20 s; ffmpeg: ${ffErr}`);
      const r = await fetch(`${base}/hls/${id}/index.m3u8`).catch(() => null);
      if (r?.ok && parsePlaylist(await r.text()).parts.length >= 3) break;
      await sleep(200);
    }
    const warmupS = Number(args.warmup);
    if (warmupS > 0) {
      log(`${n} viewers ${via}: warm-up ${warmupS} s with the publisher alone`);
      await sleep(warmupS * 1000);
    }
    let viewBase = base;
    const variant = nginxVariant(via);
    if (variant) {
      nginx = await startNginxCache(port, '127.0.0.1', variant);
      viewBase = nginx.base;
      const nginxBy = Date.now() + 20_000;
      while ((await fetch(`${viewBase}/hls/${id}/index.m3u8`).then((r) => r.status, () => 0)) !== 200) {
        if (Date.now() > nginxBy) throw new Error(`nginx not serving the stream after 20 s: ${nginx.errors()}`);
        await sleep(200);
      }
    }
    const start = wallNow() + 500;
    const from = start + (rampS + settleS) * 1000;
    const to = from + seconds * 1000;
    const outFile = path.join(CACHE, 'results', `hls-load-${runTag}-n${n}.json`);
    mkdirSync(path.dirname(outFile), { recursive: true });
    rmSync(outFile, { force: true });
    // K load generators, each with its share of the viewers (the first n % K get one more).
    const k = Math.min(loadgens, n);
    const shares = Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
    const rawFiles = shares.map((_, i) => path.join(CACHE, 'results', `hls-load-${runTag}-n${n}-raw${i}.json`));
    for (const f of rawFiles) rmSync(f, { force: true });
    await sleep(500);
    let first = 0;
    for (const [i, share] of shares.entries()) {
      const out = k === 1 ? ['--out', outFile] : ['--raw-out', rawFiles[i], '--first', String(first)];
      lgs.push(own(spawn(
        process.execPath,
        [...(process.env.BENCH_LOADGEN_NODE_FLAGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', 'bench/hls/viewer-load.ts', '--base', viewBase, '--id', id, '--viewers', String(share), '--ramp', String(rampS), '--from', String(from), '--to', String(to), ...out, '--client', args.client!, ...(args.plain || k > 1 ? [] : ['--probe-file', probeFile])],
        { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], detached: true },
      )));
      first += share;
    }
    const lgExits = lgs.map((lg) => new Promise<number | string>((r) => lg.once('close', (code, sig) => r(code ?? sig ?? -1))));
    result.rssMiB.start = rssMiB(server.pid) ?? NaN;

    await sleep(Math.max(0, from - wallNow()));
    /** utime + stime of every load generator; null if one is gone. */
    const lgSeconds = () => lgs.reduce<number | null>((a, lg) => {
      const c = cpuSeconds(lg.pid);
      return a === null || c === null ? null : a + c;
    }, 0);
    const snap = () => ({ at: wallNow(), m: machineTicks(), s: cpuSeconds(server.pid), l: lgSeconds(), f: cpuSeconds(ffmpeg!.pid), k: kernelThreadsSeconds(), x: nginx ? nginx.cpuSeconds() : 0 });
    const r0 = await originRequests(base);
    const s0 = snap();
    let rssMax = rssMiB(server.pid) ?? NaN;
    while (wallNow() < to) {
      await sleep(Math.min(1000, Math.max(0, to - wallNow())));
      rssMax = Math.max(rssMax, rssMiB(server.pid) ?? NaN);
      if (server.exitCode !== null) throw new Error(`server exited ${server.exitCode} during the window: ${serverErr}`);
    }
    const s1 = snap();
    const r1 = await originRequests(base);
    result.rssMiB.max = rssMax;
    result.rssMiB.end = rssMiB(server.pid) ?? NaN;
    const dt = (s1.at - s0.at) / 1000;
    const pct = (a: number | null, b: number | null) => (a !== null && b !== null ? ((b - a) / dt) * 100 : NaN);
    result.serverCpuPct = pct(s0.s, s1.s);
    result.loadgenCpuPct = pct(s0.l, s1.l);
    result.ffmpegCpuPct = pct(s0.f, s1.f);
    result.kernelCpuPct = pct(s0.k, s1.k);
    result.nginxCpuPct = pct(s0.x, s1.x);
    result.originReqPerSec = (r1 - r0) / dt;
    result.machineCpuPct = machinePct(s0.m, s1.m);
    const extras = machineExtras(s0.m, s1.m);
    result.softirqPct = extras.softirq;
    result.stealPct = extras.steal;
    // softirq time is in no process's utime/stime: take it out of "other" too.
    result.otherCpuPct = result.machineCpuPct - result.serverCpuPct - result.loadgenCpuPct - result.ffmpegCpuPct - result.nginxCpuPct - result.kernelCpuPct - result.softirqPct;

    const codes = await Promise.race([Promise.all(lgExits), sleep(30_000).then(() => null)]);
    if (!codes) throw new Error('load generator(s) still running 30 s after the window');
    const bad = codes.map((c, i) => [i, c] as const).filter(([, c]) => c !== 0);
    if (bad.length) throw new Error(`load generator ${bad.map(([i, c]) => `#${i} ended with ${c}`).join(', ')}`);
    if (k === 1) result.load = JSON.parse(readFileSync(outFile, 'utf8')) as LoadResult;
    else {
      // One result for all viewers, as if one process had measured them; the server's figures once.
      const raws = rawFiles.map((f) => JSON.parse(readFileSync(f, 'utf8')) as RawLoad);
      result.load = summarizeLoad(raws, readProbe(args.plain ? undefined : probeFile, from, to));
      writeFileSync(outFile, JSON.stringify(result.load, null, 1));
      for (const f of rawFiles) rmSync(f, { force: true });
    }
  } catch (err) {
    result.error = (err as Error).message;
    log(`point ${n}: ${result.error}`);
  } finally {
    for (const lg of lgs) await stop(lg, 'SIGKILL');
    await nginx?.stop();
    await stop(ffmpeg);
    await stop(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
  if (args.profile && existsSync(profileDir)) {
    // The main thread's profile is the one with the most busy time.
    const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(profileDir, f));
    const busiest = files
      .map((f) => ({ f, s: summarizeProfile(f) }))
      .sort((a, b) => b.s.totalMs - b.s.idleMs - (a.s.totalMs - a.s.idleMs))[0];
    if (busiest) {
      result.profile = path.relative(ROOT, busiest.f);
      console.log(`\n${n} viewers: ${profileReport(busiest.f, 20)}\n`);
    }
  }
  const l = result.load;
  log(
    `${n} viewers ${via}: server CPU ${fmt(result.serverCpuPct)} %, origin ${fmt(result.originReqPerSec, 0)} req/s, nginx CPU ${fmt(result.nginxCpuPct)} %, RSS max ${fmt(result.rssMiB.max)} MiB; loadgen ${fmt(result.loadgenCpuPct)} %, ffmpeg ${fmt(result.ffmpegCpuPct)} %, kernel ${fmt(result.kernelCpuPct + result.softirqPct)} %, steal ${fmt(result.stealPct)} %, other ${fmt(result.otherCpuPct)} %` +
      (l ? `; ready→viewer p50 ${fmt(l.delays.fromReady.p50)} p99 ${fmt(l.delays.fromReady.p99)} ms; PDT end→viewer p50 ${fmt(l.delays.abs.p50)} p99 ${fmt(l.delays.abs.p99)} ms, spread p99 ${fmt(l.delays.spread.p99)} ms, server part written p50 ${fmt(l.serverSentMs?.p50)} p99 ${fmt(l.serverSentMs?.p99)} ms, playlist written p50 ${fmt(l.serverPlaylistMs?.p50)} p99 ${fmt(l.serverPlaylistMs?.p99)} ms${l.serverLateRequestMs?.sent.n ? ` (part requests sent after ready, p50 / p99: ready → sent ${fmt(l.serverLateRequestMs.sent.p50)} / ${fmt(l.serverLateRequestMs.sent.p99)}, sent → handled ${fmt(l.serverLateRequestMs.queued.p50)} / ${fmt(l.serverLateRequestMs.queued.p99)}, handled → written ${fmt(l.serverLateRequestMs.inServer.p50)} / ${fmt(l.serverLateRequestMs.inServer.p99)} ms)` : ''}, ${fmt(l.rates.requestsPerSec, 0)} req/s` : ''),
  );
  return result;
}

function table(results: PointResult[]): string {
  const two = (x: Summary | undefined) => (x && x.n > 0 ? `${fmt(x.p50)} / ${fmt(x.p99)}` : '–');
  const three = (x: Summary | undefined) => (x && x.n > 0 ? `${fmt(x.p50)} / ${fmt(x.p99)} / ${fmt(x.max)}` : '–');
  const rows = results.map((r) => {
    const l = r.load;
    const delay = l ? (l.delays.fromReady.n > 0 ? l.delays.fromReady : l.delays.abs) : null;
    const fits = l && delay ? (r.serverCpuPct < 100 && delay.p99 < 100 && l.rates.partsPerViewerPerSec > 4.9 ? 'yes' : 'no') : '–';
    const cells = [
      r.viewers,
      r.via,
      fmt(r.serverCpuPct),
      fmt(r.originReqPerSec, 0),
      r.via !== 'direct' ? fmt(r.nginxCpuPct) : '–',
      fmt(r.rssMiB.max, 0),
      l ? fmt(l.rates.requestsPerSec, 0) : '–',
      l ? fmt(l.rates.partsPerViewerPerSec, 2) : '–',
      two(l?.delays.fromReadyTtfb),
      three(l?.delays.fromReady),
      two(l?.delays.abs),
      two(l?.delays.spread),
      two(l?.serverSentMs),
      two(l?.serverBurstMs),
      l ? `${fmt(l.serverEventLoopMs.p99OfSeconds.p50)} / ${fmt(l.serverEventLoopMs.maxOfSeconds.max)}` : '–',
      l ? `${l.errors.connectionErrors} / ${l.errors.playlistNon200}` : '–',
      `${fmt(r.loadgenCpuPct)} (${l ? fmt(l.loadgen.eventLoopDelayMs.p99) : '–'})`,
      fmt(r.ffmpegCpuPct),
      fmt(r.kernelCpuPct + r.softirqPct),
      fmt(r.otherCpuPct),
      `${fits}${r.error ? ` (${r.error})` : ''}`,
    ];
    return `| ${cells.join(' | ')} |`;
  });
  return [
    '| viewers | via | server (origin) CPU % | origin LL-HLS req/s | nginx CPU % | server RSS MiB max | req/s | parts / viewer / s | part ready → first byte, ms p50 / p99 | part ready → whole part, ms p50 / p99 / max | PDT part end → whole part, ms p50 / p99 | spread vs fastest viewer, ms p50 / p99 | server: part ready → part response written, ms p50 / p99 | server fan-out burst per part, ms p50 / p99 | server event-loop delay, ms p99 (median s) / max | conn. errors / playlist non-200 | load gen CPU % (loop delay p99 ms) | ffmpeg CPU % | kernel (softirq + kthreads) % | other processes % | 1 core and p99 < 100 ms |',
    `|${' --- |'.repeat(21)}`,
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  ensureMedia();
  if (args.profile) mkdirSync(PROFILE_DIR, { recursive: true });
  const runTag = new Date().toISOString().replace(/[:.]/g, '-');
  const versions = {
    node: process.version,
    ffmpeg: spawnSync('ffmpeg', ['-version']).stdout.toString().split('\n')[0].replace(/^ffmpeg version (\S+).*/, '$1'),
    cpu: os.cpus()[0]?.model ?? '?',
    cores: os.cpus().length,
  };
  log(`LL-HLS viewers benchmark: points ${counts.join(', ')}; ramp ${rampS} s, settle ${settleS} s, window ${seconds} s; ${versions.cores} cores (${versions.cpu})${args['server-flags'] ? `; server flags ${args['server-flags']}` : ''}; viewers: ${args.client}${loadgens > 1 ? `; ${loadgens} load generators` : ''}`);
  const results: PointResult[] = [];
  for (const n of counts) for (const via of vias) results.push(await runPoint(n, runTag, via));
  console.log(`\n${table(results)}\n`);
  const out = args.json ?? path.join(CACHE, 'results', `hls-viewers-${runTag}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), versions, seconds, rampS, settleS, serverFlags: args['server-flags'], client: args.client, loadgens, results }, null, 1));
  log(`results: ${path.relative(ROOT, out)}`);
  if (args.profile) log(`profiles: ${path.relative(ROOT, PROFILE_DIR)}/${runTag}-n*/`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
