/**
 * LL-HLS media playlist text (RFC 8216bis), rendered from a segmenter's state.
 */
import type { Segment, Segmenter } from './segmenter';

export interface PlaylistOptions {
  segmentTarget: number;
  partTarget: number;
  /** PART-HOLD-BACK in part targets (default 3; RFC 8216bis: at least 2, SHOULD be at least 3). */
  partHoldBackParts?: number;
  /** Segments shown (the newest ones). */
  windowSegments: number;
  /** Newest segments whose parts are listed. */
  partSegments: number;
}

export const uri = {
  init: (run: string, v: number) => `${run}-init${v}.mp4`,
  segment: (run: string, msn: number) => `${run}-seg${msn}.m4s`,
  part: (run: string, msn: number, i: number) => `${run}-part${msn}.${i}.m4s`,
};

const fixed = (n: number, d = 5) => n.toFixed(d).replace(/0+$/, '').replace(/\.$/, '.0');

export function targetDuration(s: Segmenter, o: PlaylistOptions): number {
  let td = Math.ceil(o.segmentTarget);
  for (const seg of s.segments) if (seg.complete) td = Math.max(td, Math.round(seg.duration));
  return td;
}

/** The segments whose parts the playlist lists: the `partSegments` newest of the window, and any open one. */
function listsParts(shown: readonly Segment[], o: PlaylistOptions, i: number): boolean {
  return i >= shown.length - o.partSegments || !shown[i].complete;
}

/**
 * PART-TARGET: the configured target, or the longest listed part if one is longer (a single frame longer than the
 * target: a frame gap). Only the parts the playlist lists count (RFC 8216bis bounds those), so a glitch raises
 * PART-HOLD-BACK, and so every player's start position, for the few seconds its part is listed, not for the rest
 * of the stream or for all the segments kept in memory.
 */
export function partTarget(s: Segmenter, o: PlaylistOptions): number {
  const shown = s.segments.slice(-o.windowSegments);
  let longest = 0;
  shown.forEach((seg, i) => {
    if (listsParts(shown, o, i)) for (const p of seg.parts) if (p.duration > longest) longest = p.duration;
  });
  return Math.max(o.partTarget, Math.ceil(longest * 1000) / 1000);
}

export function renderPlaylist(s: Segmenter, o: PlaylistOptions, opts: { skip?: boolean } = {}): string {
  const td = targetDuration(s, o);
  const pt = partTarget(s, o);
  const shown = s.segments.slice(-o.windowSegments);
  const firstIndex = s.segments.length - shown.length;
  let discontinuitySeq = s.discontinuitySequence;
  for (let i = 0; i < firstIndex; i++) if (s.segments[i].discontinuity) discontinuitySeq++;
  const canSkipUntil = td * 6;
  const lines: string[] = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    `#EXT-X-TARGETDURATION:${td}`,
    `#EXT-X-MEDIA-SEQUENCE:${shown[0]?.msn ?? s.mediaSequence}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuitySeq}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${fixed(pt * Math.max(2, o.partHoldBackParts ?? 3), 3)},CAN-SKIP-UNTIL=${fixed(canSkipUntil, 1)}`,
    `#EXT-X-PART-INF:PART-TARGET=${fixed(pt, 3)}`,
  ];
  if (s.init === null || shown.length === 0) {
    if (s.ended) lines.push('#EXT-X-ENDLIST');
    return `${lines.join('\n')}\n`;
  }

  // Delta update: skip the oldest complete segments that end more than CAN-SKIP-UNTIL before the live edge.
  let skipped = 0;
  if (opts.skip) {
    const last = shown[shown.length - 1];
    const edge = last.startDts + last.duration * 1000;
    while (skipped < shown.length - 1 && shown[skipped].complete && edge - shown[skipped].startDts > canSkipUntil * 1000) {
      // A discontinuity cannot be skipped over safely: stop there.
      if (skipped > 0 && shown[skipped].discontinuity) break;
      skipped++;
    }
    if (skipped > 0) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);
  }

  let mapVersion = -1;
  shown.forEach((seg: Segment, i) => {
    if (i < skipped) {
      mapVersion = seg.initVersion;
      return;
    }
    if (seg.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    if (seg.initVersion !== mapVersion || i === skipped) {
      lines.push(`#EXT-X-MAP:URI="${uri.init(s.run, seg.initVersion)}"`);
      mapVersion = seg.initVersion;
    }
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(seg.programDateTime).toISOString()}`);
    if (listsParts(shown, o, i)) {
      for (const p of seg.parts) {
        lines.push(`#EXT-X-PART:DURATION=${fixed(p.duration)},URI="${uri.part(s.run, seg.msn, p.index)}"${p.independent ? ',INDEPENDENT=YES' : ''}`);
      }
    }
    if (seg.complete) {
      lines.push(`#EXTINF:${fixed(seg.duration)},`);
      lines.push(uri.segment(s.run, seg.msn));
    }
  });
  if (s.ended) lines.push('#EXT-X-ENDLIST');
  else {
    const next = s.nextPart();
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${uri.part(s.run, next.msn, next.index)}"`);
  }
  return `${lines.join('\n')}\n`;
}
