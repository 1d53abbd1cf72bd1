/**
 * Shared helpers of the LL-HLS benchmarks: the test media, /proc readings, percentiles,
 * and a tiny LL-HLS playlist parser.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CACHE = path.join(ROOT, 'bench', '.cache');
/** 30 s of 1280x720 30 fps H.264 (2.5 Mbit/s, keyframe every second) + AAC 128k, looped by ffmpeg. */
export const MEDIA = path.join(CACHE, 'media', 'hls-bench-720p30-2500k-g30-30s.flv');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 23)}] ${msg}`);
/** Wall-clock ms with sub-ms resolution (same clock as Date.now(), comparable across processes). */
export const wallNow = () => performance.timeOrigin + performance.now();

export function ensureMedia(): string {
  if (existsSync(MEDIA)) return MEDIA;
  mkdirSync(path.dirname(MEDIA), { recursive: true });
  log(`encoding the test file once into ${path.relative(ROOT, MEDIA)} (30 s, 720p30, 2500k, g=30, AAC 128k) ...`);
  const tmp = `${MEDIA}.${process.pid}.tmp.flv`;
  const r = spawnSync(
    'ffmpeg',
    [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30,noise=alls=30:allf=t+u',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', '30',
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
      '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '2500k', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
      '-c:a', 'aac', '-b:a', '128k',
      '-f', 'flv', tmp,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 },
  );
  if (r.status !== 0) throw new Error(`ffmpeg encode failed (${r.status ?? r.signal})`);
  renameSync(tmp, MEDIA);
  return MEDIA;
}

/** ffmpeg arguments that publish the test file in real time, looped, without re-encoding. */
export function publishArgs(url: string): string[] {
  return ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', MEDIA, '-c', 'copy', '-f', 'flv', url];
}

// ---- statistics ------------------------------------------------------------------------------

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  min: number;
  mean: number;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export function summarize(values: number[]): Summary {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return { n: s.length, p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), max: s.at(-1) ?? NaN, min: s[0] ?? NaN, mean };
}

export const fmt = (v: number | null | undefined, d = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));

// ---- /proc -----------------------------------------------------------------------------------

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** utime + stime of a process in seconds; null when it is gone. */
export function cpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** VmRSS in MiB; null when the process is gone. */
export function rssMiB(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Busy and total jiffies of the whole machine (all cores); softirq and steal on their own. */
export function machineTicks(): { busy: number; total: number; softirq: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4] - f[7], total, softirq: f[6], steal: f[7] };
}

/** softirq (kernel network processing, not in any process's utime/stime) and steal, % of one core. */
export function machineExtras(a: ReturnType<typeof machineTicks>, b: ReturnType<typeof machineTicks>): { softirq: number; steal: number } {
  const k = (100 * os.cpus().length) / Math.max(1, b.total - a.total);
  return { softirq: (b.softirq - a.softirq) * k, steal: (b.steal - a.steal) * k };
}

/** Machine CPU between two machineTicks() readings, in % of one core. */
export function machinePct(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  return ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * 100 * os.cpus().length;
}

/** utime + stime of all kernel threads (children of kthreadd), seconds. */
export function kernelThreadsSeconds(): number {
  let sum = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[1] === '2') sum += (Number(f[11]) + Number(f[12])) / CLK_TCK;
    } catch {
      // gone
    }
  }
  return sum;
}

// ---- playlists -------------------------------------------------------------------------------

export interface PlaylistPart {
  msn: number;
  index: number;
  uri: string;
  /** Seconds. */
  duration: number;
  /** Wall-clock ms at which the part's media ends, from the segment's PROGRAM-DATE-TIME. */
  endWall: number;
}

export interface ParsedPlaylist {
  parts: PlaylistPart[];
  hint: { msn: number; index: number; uri: string } | null;
  ended: boolean;
}

const PART_URI = /-part(\d+)\.(\d+)\.m4s$/;

/** Parse what an LL-HLS client needs: the parts (with their PDT-derived end time) and the preload hint. */
export function parsePlaylist(text: string): ParsedPlaylist {
  const parts: PlaylistPart[] = [];
  let hint: ParsedPlaylist['hint'] = null;
  let ended = false;
  let pdt = NaN;
  let offset = 0; // seconds into the current segment
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      pdt = Date.parse(line.slice(25));
      offset = 0;
    } else if (line.startsWith('#EXT-X-PART:')) {
      const d = /DURATION=([\d.]+)/.exec(line);
      const u = /URI="([^"]+)"/.exec(line);
      if (!d || !u) continue;
      const m = PART_URI.exec(u[1]);
      if (!m) continue;
      offset += Number(d[1]);
      parts.push({ msn: Number(m[1]), index: Number(m[2]), uri: u[1], duration: Number(d[1]), endWall: pdt + offset * 1000 });
    } else if (line.startsWith('#EXT-X-PRELOAD-HINT:')) {
      const u = /URI="([^"]+)"/.exec(line);
      const m = u ? PART_URI.exec(u[1]) : null;
      if (u && m) hint = { msn: Number(m[1]), index: Number(m[2]), uri: u[1] };
    } else if (line.startsWith('#EXT-X-ENDLIST')) ended = true;
  }
  return { parts, hint, ended };
}

export const partKey = (msn: number, index: number) => `${msn}.${index}`;
