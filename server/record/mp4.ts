/**
 * The MP4 download of a recording, made from the file and the index, never by remuxing: the file is init segment +
 * fragments; the download puts two boxes in front of the fragments (ISO/IEC 14496-12):
 * - `mehd` in `mvex`: the whole duration (players show it before reading to the end);
 * - `sidx` after `moov`: one reference per segment (size, duration, starts with a keyframe), so players (browsers,
 *   VLC, QuickTime, ffmpeg) seek with one range request instead of walking every moof.
 * The bytes after those are the file's, from its first fragment on, so a Range of the download maps onto the file.
 */
import type { RecordingRow, SegmentRow } from './store';

interface Box {
  type: string;
  start: number;
  end: number;
  /** Where the payload begins. */
  body: number;
}

function boxes(buf: Buffer, from: number, to: number): Box[] {
  const out: Box[] = [];
  let pos = from;
  while (pos + 8 <= to) {
    const size = buf.readUInt32BE(pos);
    if (size < 8 || pos + size > to) throw new Error('malformed init segment');
    out.push({ type: buf.toString('latin1', pos + 4, pos + 8), start: pos, end: pos + size, body: pos + 8 });
    pos += size;
  }
  return out;
}

function child(buf: Buffer, parent: Box, type: string): Box | undefined {
  return boxes(buf, parent.body, parent.end).find((b) => b.type === type);
}

function box(type: string, ...payload: Buffer[]): Buffer {
  const size = payload.reduce((n, b) => n + b.length, 8);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(size, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, ...payload]);
}

export interface InitInfo {
  movieTimescale: number;
  /** The track the sidx indexes: video when there is one, else the first. */
  refTrackId: number;
  refTimescale: number;
}

export function readInit(init: Buffer): InitInfo {
  const top = boxes(init, 0, init.length);
  const moov = top.find((b) => b.type === 'moov');
  if (!moov) throw new Error('init segment without moov');
  const mvhd = child(init, moov, 'mvhd');
  if (!mvhd) throw new Error('moov without mvhd');
  const v = init[mvhd.body];
  const movieTimescale = init.readUInt32BE(mvhd.body + (v === 1 ? 20 : 12));
  let ref: { id: number; timescale: number; video: boolean } | null = null;
  for (const trak of boxes(init, moov.body, moov.end).filter((b) => b.type === 'trak')) {
    const tkhd = child(init, trak, 'tkhd');
    const mdia = child(init, trak, 'mdia');
    const mdhd = mdia && child(init, mdia, 'mdhd');
    const hdlr = mdia && child(init, mdia, 'hdlr');
    if (!tkhd || !mdhd || !hdlr) continue;
    const id = init.readUInt32BE(tkhd.body + (init[tkhd.body] === 1 ? 20 : 12));
    const timescale = init.readUInt32BE(mdhd.body + (init[mdhd.body] === 1 ? 20 : 12));
    const video = init.toString('latin1', hdlr.body + 8, hdlr.body + 12) === 'vide';
    if (!ref || (video && !ref.video)) ref = { id, timescale, video };
  }
  if (!ref) throw new Error('init segment without a track');
  return { movieTimescale, refTrackId: ref.id, refTimescale: ref.timescale };
}

/** The init segment with `mehd` (the fragments' whole duration) at the start of `mvex`. */
export function withDuration(init: Buffer, durationUs: number): Buffer {
  const info = readInit(init);
  const top = boxes(init, 0, init.length);
  const out: Buffer[] = [];
  for (const b of top) {
    if (b.type !== 'moov') {
      out.push(init.subarray(b.start, b.end));
      continue;
    }
    const kids = boxes(init, b.body, b.end).map((k) => {
      if (k.type !== 'mvex') return init.subarray(k.start, k.end);
      const mehd = Buffer.alloc(12);
      mehd.writeUInt32BE(0x01000000, 0); // version 1: 64-bit fragment_duration
      mehd.writeBigUInt64BE(BigInt(Math.round((durationUs * info.movieTimescale) / 1e6)), 4);
      const rest = boxes(init, k.body, k.end)
        .filter((x) => x.type !== 'mehd')
        .map((x) => init.subarray(x.start, x.end));
      return box('mvex', box('mehd', mehd), ...rest);
    });
    out.push(box('moov', ...kids));
  }
  return Buffer.concat(out);
}

/** A sidx reference holds at most 2^31-1 bytes and 2^32-1 ticks; the box at most 65535 references. */
const MAX_REFS = 0xffff;

/**
 * `sidx` for fragments that follow it directly (first_offset 0): one reference per segment (or per run of segments
 * when there are more than 65535). A reference's duration reaches the next one's start, so a gap in the timeline (a
 * publisher that came back) stays where it is.
 */
export function sidx(info: InitInfo, segs: readonly SegmentRow[]): Buffer {
  const n = segs.length;
  const per = Math.max(1, Math.ceil(n / MAX_REFS));
  const ticks = (us: number) => Math.round((us * info.refTimescale) / 1e6);
  const groups: Array<{ size: number; start: number; end: number; sap: boolean }> = [];
  for (let i = 0; i < n; i += per) {
    const last = Math.min(n, i + per) - 1;
    let size = 0;
    for (let j = i; j <= last; j++) size += segs[j].size;
    const next = segs[last + 1];
    const end = next ? next.mediaTimeUs : segs[last].mediaTimeUs + segs[last].durationUs;
    groups.push({ size, start: segs[i].mediaTimeUs, end, sap: segs[i].independent });
  }
  const body = Buffer.alloc(4 + 8 + 16 + 4 + groups.length * 12);
  let o = 0;
  body.writeUInt32BE(0x01000000, o); // version 1, flags 0
  o += 4;
  body.writeUInt32BE(info.refTrackId, o);
  body.writeUInt32BE(info.refTimescale, o + 4);
  o += 8;
  body.writeBigUInt64BE(BigInt(n ? ticks(segs[0].mediaTimeUs) : 0), o); // earliest_presentation_time
  body.writeBigUInt64BE(0n, o + 8); // first_offset
  o += 16;
  body.writeUInt16BE(0, o); // reserved
  body.writeUInt16BE(groups.length, o + 2);
  o += 4;
  for (const g of groups) {
    body.writeUInt32BE(Math.min(g.size, 0x7fffffff), o); // reference_type 0 (media)
    body.writeUInt32BE(Math.max(0, Math.min(0xffffffff, ticks(g.end) - ticks(g.start))), o + 4);
    body.writeUInt32BE(g.sap ? 0x90000000 : 0, o + 8); // starts_with_SAP, SAP_type 1
    o += 12;
  }
  return box('sidx', body);
}

/** The download: `header` (init with mehd, sidx), then the file's bytes [fileStart, fileEnd). */
export interface Download {
  header: Buffer;
  fileStart: number;
  fileEnd: number;
  length: number;
}

export function download(init: Buffer, rec: RecordingRow, segs: readonly SegmentRow[]): Download {
  const end = segs.length ? segs[segs.length - 1].offset + segs[segs.length - 1].size : rec.initSize;
  const first = segs[0]?.mediaTimeUs ?? 0;
  const last = segs.at(-1);
  const duration = last ? last.mediaTimeUs + last.durationUs - first : 0;
  const header = Buffer.concat([withDuration(init, duration), ...(segs.length ? [sidx(readInit(init), segs)] : [])]);
  return { header, fileStart: rec.initSize, fileEnd: end, length: header.length + (end - rec.initSize) };
}
