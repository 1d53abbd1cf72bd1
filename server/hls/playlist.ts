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

/**
 * Where the segments whose parts the playlist lists begin (an index into `shown`): the `partSegments` newest, less
 * any older than the newest complete one that holds a part longer than the part target (a frame gap: the first
 * frames of a browser broadcast often are one), and all before such a one. Players start and load parts near the
 * edge (PART-HOLD-BACK, under a segment), so an old long part only raised PART-TARGET, and so every new player's
 * start position; from the newest complete segment on, parts are always listed.
 */
function partsFrom(shown: readonly Segment[], o: PlaylistOptions): number {
  const from = Math.max(0, shown.length - o.partSegments);
  let keep = shown.length - 1;
  while (keep > 0 && !shown[keep].complete) keep--;
  for (let i = keep - 1; i >= from; i--) if (shown[i].parts.some((p) => p.duration > o.partTarget + 0.002)) return i + 1;
  return from;
}

function listsParts(shown: readonly Segment[], from: number, i: number): boolean {
  return i >= from || !shown[i].complete;
}

/**
 * PART-TARGET: the configured target, or the longest listed part if one is longer (a single frame longer than the
 * target: a frame gap). Only the parts the playlist lists count (RFC 8216bis bounds those), so a glitch raises
 * PART-HOLD-BACK, and so every player's start position, for the few seconds its part is listed, not for the rest
 * of the stream or for all the segments kept in memory.
 */
export function partTarget(s: Segmenter, o: PlaylistOptions): number {
  const shown = s.segments.slice(-o.windowSegments);
  const from = partsFrom(shown, o);
  let longest = 0;
  shown.forEach((seg, i) => {
    if (listsParts(shown, from, i)) for (const p of seg.parts) if (p.duration > longest) longest = p.duration;
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

  const withParts = partsFrom(shown, o);
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
    if (listsParts(shown, withParts, i)) {
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
