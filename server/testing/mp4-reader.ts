/**
 * A small fMP4 reader, written apart from server/hls/fmp4.ts so tests and benchmarks can check what the writer
 * produced: boxes, track timescales from an init segment, and per-track tfdt + summed trun durations of fragments.
 */

export interface Box {
  type: string;
  start: number; // payload start
  end: number;
}

export function boxes(b: Buffer, start: number, end: number): Box[] {
  const out: Box[] = [];
  let p = start;
  while (p + 8 <= end) {
    let size = b.readUInt32BE(p);
    const type = b.toString('latin1', p + 4, p + 8);
    let head = 8;
    if (size === 1) {
      size = Number(b.readBigUInt64BE(p + 8));
      head = 16;
    } else if (size === 0) size = end - p;
    if (size < head || p + size > end) break;
    out.push({ type, start: p + head, end: p + size });
    p += size;
  }
  return out;
}

const child = (b: Buffer, box: Box, type: string) => boxes(b, box.start, box.end).find((x) => x.type === type);

/** track_ID -> timescale (and handler) from an init segment. */
export function parseInit(b: Buffer): Map<number, { timescale: number; kind: string }> {
  const tracks = new Map<number, { timescale: number; kind: string }>();
  const moov = boxes(b, 0, b.length).find((x) => x.type === 'moov');
  if (!moov) return tracks;
  for (const trak of boxes(b, moov.start, moov.end).filter((x) => x.type === 'trak')) {
    const tkhd = child(b, trak, 'tkhd');
    const mdia = child(b, trak, 'mdia');
    if (!tkhd || !mdia) continue;
    const id = b.readUInt32BE(tkhd.start + (b[tkhd.start] === 1 ? 20 : 12));
    const mdhd = child(b, mdia, 'mdhd');
    const hdlr = child(b, mdia, 'hdlr');
    if (!mdhd) continue;
    const timescale = b.readUInt32BE(mdhd.start + (b[mdhd.start] === 1 ? 20 : 12));
    const kind = hdlr ? b.toString('latin1', hdlr.start + 8, hdlr.start + 12) : '?';
    tracks.set(id, { timescale, kind: kind === 'vide' ? 'video' : kind === 'soun' ? 'audio' : kind });
  }
  return tracks;
}

/** Per track of one fragment: base decode time and total duration, in the track's timescale. */
export function parseFragment(b: Buffer): Map<number, { tfdt: number; duration: number; samples: number }> {
  const out = new Map<number, { tfdt: number; duration: number; samples: number }>();
  for (const moof of boxes(b, 0, b.length).filter((x) => x.type === 'moof')) {
    for (const traf of boxes(b, moof.start, moof.end).filter((x) => x.type === 'traf')) {
      const tfhd = child(b, traf, 'tfhd');
      const tfdt = child(b, traf, 'tfdt');
      if (!tfhd || !tfdt) continue;
      const tfFlags = b.readUInt32BE(tfhd.start) & 0xffffff;
      const id = b.readUInt32BE(tfhd.start + 4);
      let q = tfhd.start + 8;
      if (tfFlags & 0x1) q += 8;
      if (tfFlags & 0x2) q += 4;
      const defaultDuration = tfFlags & 0x8 ? b.readUInt32BE(q) : 0;
      const base = b[tfdt.start] === 1 ? Number(b.readBigUInt64BE(tfdt.start + 4)) : b.readUInt32BE(tfdt.start + 4);
      let duration = 0;
      let samples = 0;
      for (const trun of boxes(b, traf.start, traf.end).filter((x) => x.type === 'trun')) {
        const flags = b.readUInt32BE(trun.start) & 0xffffff;
        const count = b.readUInt32BE(trun.start + 4);
        let r = trun.start + 8;
        if (flags & 0x1) r += 4;
        if (flags & 0x4) r += 4;
        for (let i = 0; i < count; i++) {
          duration += flags & 0x100 ? b.readUInt32BE(r) : defaultDuration;
          r += ((flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0) + (flags & 0x800 ? 4 : 0));
        }
        samples += count;
      }
      const prev = out.get(id);
      if (prev) {
        prev.duration += duration;
        prev.samples += samples;
      } else out.set(id, { tfdt: base, duration, samples });
    }
  }
  return out;
}
