/**
 * Shared helpers of the LL-HLS benchmarks: the test media, percentiles and a tiny LL-HLS playlist
 * parser (/proc readings are in ../proc.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeTestFile } from '../tools';

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
  log(`encoding the test file once into ${path.relative(ROOT, MEDIA)} (30 s, 720p30, 2500k, g=30, AAC 128k) ...`);
  encodeTestFile(MEDIA, 48000, 600_000);
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
