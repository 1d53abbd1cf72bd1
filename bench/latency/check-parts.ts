/**
 * Checks the LL-HLS parts our server serves for timeline holes: fetches the playlist, the init
 * segment and every listed part (again and again while a window runs), and verifies per track that each part starts where the previous
 * one ended (tfdt == previous tfdt + sum of sample durations). A hole in either track becomes a
 * hole in the browser's buffered ranges (MSE buffers the intersection of audio and video), where
 * playback stalls and hls.js raises its target latency.
 *
 *   npx tsx bench/latency/check-parts.ts http://127.0.0.1:PORT/hls/<id>/index.m3u8
 */

import { appendFileSync } from 'node:fs';
import { parseFragment, parseInit } from '../../server/testing/mp4-reader';

export interface PartsCheck {
  parts: number;
  /** Per track: how many part boundaries do not join up, and the largest gap / overlap in ms. */
  tracks: Record<string, { holes: number; overlaps: number; maxGapMs: number; maxOverlapMs: number; where: string[] }>;
  /** Part durations in the playlist vs the video media in them: the largest difference, ms. */
  maxPlaylistVsVideoMs: number;
}

/** Follows a live playlist: `follow()` with blocking reloads, or `poll()` every ~2 s. */
export class PartsChecker {
  private tracks: Map<number, { timescale: number; kind: string }> | null = null;
  private seen = new Set<string>();
  private last = new Map<number, number>();
  /** msn -> highest part index seen. */
  private lastIndex = new Map<number, number>();
  readonly result: PartsCheck = { parts: 0, tracks: {}, maxPlaylistVsVideoMs: 0 };

  constructor(private readonly playlistUrl: string) {}

  private async get(u: string): Promise<Buffer> {
    const res = await fetch(u, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`${u}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }

  private busy = false;

  async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.pollOnce();
    } finally {
      this.busy = false;
    }
  }

  /**
   * Follow the playlist the way an LL-HLS player does (blocking reloads for the hinted part) until
   * `deadline` (ms since epoch): no listing is missed.
   */
  async follow(deadline: number): Promise<void> {
    let query = '';
    while (Date.now() < deadline) {
      const url = `${this.playlistUrl}${query}`;
      const text = (await this.get(url)).toString('utf8');
      await this.process(text);
      const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[0-9a-f]+-part(\d+)\.(\d+)\.m4s"/.exec(text);
      if (!hint) {
        await new Promise((r) => setTimeout(r, 200));
        query = '';
      } else query = `?_HLS_msn=${hint[1]}&_HLS_part=${hint[2]}`;
    }
  }

  private async pollOnce(): Promise<void> {
    await this.process((await this.get(this.playlistUrl)).toString('utf8'));
  }

  private async process(text: string): Promise<void> {
    const base = new URL(this.playlistUrl);
    if (!this.tracks) {
      const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(text);
      if (!map) throw new Error('no EXT-X-MAP');
      this.tracks = parseInit(await this.get(new URL(map[1], base).href));
    }
    const parts = [...text.matchAll(/#EXT-X-PART:DURATION=([\d.]+),URI="([^"]+)"/g)].map((m) => ({ duration: Number(m[1]), uri: m[2] }));
    for (const part of parts) {
      if (this.seen.has(part.uri)) continue;
      this.seen.add(part.uri);
      const name = /^([0-9a-f]+)-part(\d+)\.(\d+)\.m4s$/.exec(part.uri);
      this.result.parts++;
      const frag = parseFragment(await this.get(new URL(part.uri, base).href));
      // Diagnosis: PARTS_LOG=file gets one JSON line per part (per track: start and duration in s, sample count).
      if (process.env.PARTS_LOG) {
        const t: Record<string, [number, number, number]> = {};
        for (const [id, x] of frag) {
          const info = this.tracks.get(id);
          if (info) t[info.kind] = [x.tfdt / info.timescale, x.duration / info.timescale, x.samples];
        }
        appendFileSync(process.env.PARTS_LOG, `${JSON.stringify({ at: Date.now(), uri: part.uri, duration: part.duration, ...t })}\n`);
      }
      for (const [id, t] of frag) {
        const info = this.tracks.get(id);
        if (!info) continue;
        const r = (this.result.tracks[info.kind] ??= { holes: 0, overlaps: 0, maxGapMs: 0, maxOverlapMs: 0, where: [] });
        const expected = this.last.get(id);
        if (expected !== undefined && t.tfdt !== expected) {
          const ms = ((t.tfdt - expected) * 1000) / info.timescale;
          if (ms > 0) {
            r.holes++;
            r.maxGapMs = Math.max(r.maxGapMs, ms);
          } else {
            r.overlaps++;
            r.maxOverlapMs = Math.max(r.maxOverlapMs, -ms);
          }
          if (r.where.length < 6) {
            let note = `${part.uri.replace(/^[0-9a-f]+-part/, '').replace(/\.m4s$/, '')}:${ms.toFixed(1)}ms`;
            // At a segment's first part: did the previous segment have a part that the playlist never listed?
            if (name && name[3] === '0') {
              const prevMsn = Number(name[2]) - 1;
              const next = (this.lastIndex.get(prevMsn) ?? -1) + 1;
              const res = await fetch(new URL(`${name[1]}-part${prevMsn}.${next}.m4s`, base).href, { signal: AbortSignal.timeout(5000) }).catch(() => null);
              note += ` (part ${prevMsn}.${next}: ${res ? res.status : 'error'})`;
              if (res) await res.arrayBuffer();
            }
            r.where.push(note);
          }
        }
        this.last.set(id, t.tfdt + t.duration);
        if (name) this.lastIndex.set(Number(name[2]), Math.max(this.lastIndex.get(Number(name[2])) ?? -1, Number(name[3])));
        if (info.kind === 'video') this.result.maxPlaylistVsVideoMs = Math.max(this.result.maxPlaylistVsVideoMs, Math.abs(part.duration * 1000 - (t.duration * 1000) / info.timescale));
      }
    }
  }
}

export async function checkParts(playlistUrl: string): Promise<PartsCheck> {
  const c = new PartsChecker(playlistUrl);
  await c.poll();
  return c.result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const url = process.argv[2];
  if (!url) {
    console.error('usage: check-parts.ts <playlist url>');
    process.exit(2);
  }
  console.log(JSON.stringify(await checkParts(url), null, 2));
}
