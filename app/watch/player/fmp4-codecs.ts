/**
 * The RFC 6381 codec string of an fMP4 init segment (ISO/IEC 14496-12 boxes, 14496-15 avcC, 14496-1/-3 esds), for
 * `MediaSource.isTypeSupported` and `addSourceBuffer`: `avc1.PPCCLL` from the avcC's profile, compatibility and level
 * bytes, `mp4a.40.N` from the AudioSpecificConfig's object type. Reads only; any malformed box gives null.
 */

interface Box {
  type: string;
  /** Payload start and end (after the 8- or 16-byte header). */
  start: number;
  end: number;
}

/** The boxes in `b[from, to)`; stops at the first one that does not fit. */
function boxes(b: Uint8Array, from: number, to: number): Box[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Box[] = [];
  let at = from;
  while (at + 8 <= to) {
    let size = v.getUint32(at);
    let header = 8;
    if (size === 1) {
      if (at + 16 > to) break;
      size = v.getUint32(at + 8) * 2 ** 32 + v.getUint32(at + 12);
      header = 16;
    } else if (size === 0) size = to - at;
    if (size < header || at + size > to) break;
    out.push({ type: String.fromCharCode(b[at + 4], b[at + 5], b[at + 6], b[at + 7]), start: at + header, end: at + size });
    at += size;
  }
  return out;
}

/** The first box of `type` in `b[from, to)`. */
function child(b: Uint8Array, parent: { start: number; end: number }, type: string, skip = 0): Box | undefined {
  return boxes(b, parent.start + skip, parent.end).find((x) => x.type === type);
}

/** Whether `b` starts with an init segment (`ftyp`, or a bare `moov`). */
export function isInitSegment(b: Uint8Array): boolean {
  const first = boxes(b, 0, Math.min(b.length, 64 * 1024 * 1024))[0];
  if (!first) return b.length >= 8 && ['ftyp', 'moov'].includes(String.fromCharCode(b[4], b[5], b[6], b[7]));
  return first.type === 'ftyp' || first.type === 'moov';
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** VisualSampleEntry fields before its child boxes (after the 8-byte SampleEntry start), 14496-12 12.1.3. */
const VISUAL_ENTRY_BYTES = 8 + 70;
/** AudioSampleEntry (version 0) fields before its child boxes, 14496-12 12.2.3. */
const AUDIO_ENTRY_BYTES = 8 + 20;

function avcCodec(b: Uint8Array, entry: Box): string | null {
  const avcC = child(b, entry, 'avcC', VISUAL_ENTRY_BYTES);
  if (!avcC || avcC.end - avcC.start < 4 || b[avcC.start] !== 1) return null;
  return `avc1.${hex2(b[avcC.start + 1])}${hex2(b[avcC.start + 2])}${hex2(b[avcC.start + 3])}`;
}

/** One descriptor (tag, expandable size) at `at`: its payload range. */
function descriptor(b: Uint8Array, at: number, end: number): { tag: number; start: number; end: number } | null {
  if (at >= end) return null;
  const tag = b[at++];
  let size = 0;
  for (let i = 0; i < 4; i++) {
    if (at >= end) return null;
    const byte = b[at++];
    size = (size << 7) | (byte & 0x7f);
    if (!(byte & 0x80)) break;
  }
  return at + size <= end ? { tag, start: at, end: at + size } : null;
}

function aacCodec(b: Uint8Array, entry: Box): string | null {
  const esds = child(b, entry, 'esds', AUDIO_ENTRY_BYTES);
  if (!esds) return null;
  const es = descriptor(b, esds.start + 4, esds.end); // after version + flags
  if (!es || es.tag !== 0x03 || es.end - es.start < 3) return null;
  const flags = b[es.start + 2];
  let at = es.start + 3;
  if (flags & 0x80) at += 2; // dependsOn_ES_ID
  if (flags & 0x40) at += 1 + (b[at] ?? 0); // URL
  if (flags & 0x20) at += 2; // OCR_ES_Id
  const dc = descriptor(b, at, es.end);
  if (!dc || dc.tag !== 0x04 || dc.end - dc.start < 13) return null;
  const oti = b[dc.start];
  if (oti !== 0x40) return `mp4a.${hex2(oti)}`;
  const dsi = descriptor(b, dc.start + 13, dc.end);
  if (!dsi || dsi.tag !== 0x05 || dsi.end - dsi.start < 1) return null;
  let aot = b[dsi.start] >> 3;
  if (aot === 31) {
    if (dsi.end - dsi.start < 2) return null;
    aot = 32 + (((b[dsi.start] & 0x07) << 3) | (b[dsi.start + 1] >> 5));
  }
  return `mp4a.40.${aot}`;
}

/** The codecs of every track in the init segment, comma-separated (e.g. "avc1.42c01e,mp4a.40.2"); null if none. */
export function initCodecs(b: Uint8Array): string | null {
  const moov = boxes(b, 0, b.length).find((x) => x.type === 'moov');
  if (!moov) return null;
  const codecs: string[] = [];
  for (const trak of boxes(b, moov.start, moov.end).filter((x) => x.type === 'trak')) {
    let box: Box | undefined = trak;
    for (const t of ['mdia', 'minf', 'stbl', 'stsd']) box = box && child(b, box, t);
    if (!box) continue;
    // stsd: version + flags + entry_count, then the sample entries.
    for (const entry of boxes(b, box.start + 8, box.end)) {
      const c = entry.type === 'avc1' || entry.type === 'avc3' ? avcCodec(b, entry) : entry.type === 'mp4a' ? aacCodec(b, entry) : null;
      if (c) codecs.push(entry.type === 'avc3' ? c.replace('avc1', 'avc3') : c);
    }
  }
  return codecs.length ? codecs.join(',') : null;
}
