/**
 * A structural check of an MP4 against what QuickTime / AVFoundation need to open, play and seek a fragmented MP4
 * (ISO/IEC 14496-12, -14, -15; QuickTime cannot run on this machine, so tests check the file instead). Written apart
 * from server/record/mp4.ts and server/hls/fmp4.ts so it checks them, not itself. It reports problems; an empty list is
 * a pass. What it checks:
 * - top level: `ftyp` first with a known major brand and an ISO/MP4 compatible brand (`iso5` or later when a `tfhd`
 *   uses default-base-is-moof), `moov` before any media, then an optional `sidx`, then `moof` + `mdat` pairs;
 * - `moov`: `mvhd` (timescale), `mvex` (with fragments) with one `trex` per track; per `trak`: `tkhd` (enabled, in movie,
 *   unique id, a video size, audio volume), an edit list if any with sane entries, `mdia`/`mdhd`/`hdlr` (vide|soun),
 *   `minf` with `vmhd`|`smhd` and a self-contained `dinf`/`dref`, `stbl` with `stsd`, `stts`, `stsc`, `stsz`|`stz2`,
 *   `stco`|`co64` (and `stss` for video when samples are in `moov`), the sample entry: `avc1`/`avc3` + `avcC` (version 1,
 *   4-byte NAL lengths, SPS and PPS) sized as its `tkhd`, or `mp4a` + `esds` (AAC: object type 0x40, audio stream,
 *   an AudioSpecificConfig);
 * - `sidx`: its track and timescale, earliest time = the first `tfdt`, referenced sizes = the bytes of the fragments,
 *   each reference that says it starts with a keyframe (a seek point) starting with a fragment whose first video
 *   sample is one;
 * - fragments: `mfhd` sequence numbers increase, each `traf` of a known track with `tfdt`, decode times that never go
 *   back, `trun` data inside the `mdat` that follows, the video starting with a sync sample, each video sample exactly
 *   a run of 4-byte-length NAL units, one flagged sync holding an IDR (fragments may start between keyframes: LL-HLS
 *   parts);
 * - durations: `mehd`, when there is one, = the fragments' video span (± 0.1 s); facts.durationSeconds is NaN without.
 */
import { boxes, type Box } from './mp4-reader';

export interface Mp4Facts {
  majorBrand: string;
  compatibleBrands: string[];
  tracks: Array<{ id: number; kind: string; codec: string; timescale: number }>;
  fragments: number;
  /** mehd, seconds (NaN: none). */
  durationSeconds: number;
  /** The video track's first decode time to its last sample's end, seconds. */
  videoSpanSeconds: number;
  topLevel: string[];
}

const MAJOR = new Set(['isom', 'iso2', 'iso4', 'iso5', 'iso6', 'mp41', 'mp42', 'avc1', 'M4V ', 'M4A ', 'qt  ', 'dash', 'cmfc', 'msdh']);
const COMPATIBLE = ['isom', 'iso2', 'iso5', 'iso6', 'mp41', 'mp42', 'avc1'];

const kids = (b: Buffer, box: Box) => boxes(b, box.start, box.end);
const fullFlags = (b: Buffer, box: Box) => b.readUInt32BE(box.start) & 0xffffff;

/** Check `b`; problems (empty: it passes) and what was found. */
export function checkMp4(b: Buffer): { problems: string[]; facts: Mp4Facts } {
  const problems: string[] = [];
  const bad = (m: string) => problems.push(m);
  const one = (parent: Box, type: string, where: string): Box | undefined => {
    const found = kids(b, parent).filter((x) => x.type === type);
    if (found.length !== 1) bad(`${where}: ${found.length} ${type} (want 1)`);
    return found[0];
  };
  const facts: Mp4Facts = { majorBrand: '', compatibleBrands: [], tracks: [], fragments: 0, durationSeconds: NaN, videoSpanSeconds: NaN, topLevel: [] };
  const top = boxes(b, 0, b.length);
  facts.topLevel = top.map((x) => x.type);
  const last = top.at(-1);
  if (!last || last.end !== b.length) bad('the boxes do not cover the file (a torn or oversized box)');

  // ftyp
  const ftyp = top[0]?.type === 'ftyp' ? top[0] : undefined;
  if (!ftyp) bad('ftyp is not the first box');
  else {
    facts.majorBrand = b.toString('latin1', ftyp.start, ftyp.start + 4);
    for (let p = ftyp.start + 8; p + 4 <= ftyp.end; p += 4) facts.compatibleBrands.push(b.toString('latin1', p, p + 4));
    if (!MAJOR.has(facts.majorBrand)) bad(`ftyp: major brand ${JSON.stringify(facts.majorBrand)} unknown to QuickTime`);
    if (!COMPATIBLE.some((c) => facts.compatibleBrands.includes(c) || facts.majorBrand === c)) bad(`ftyp: no ISO/MP4 compatible brand in ${facts.compatibleBrands.join(',')}`);
  }

  // Order: moov before media; after it [sidx], then moof+mdat pairs.
  const moovAt = facts.topLevel.indexOf('moov');
  const firstMedia = facts.topLevel.findIndex((t) => t === 'mdat' || t === 'moof');
  if (moovAt < 0) bad('no moov');
  if (facts.topLevel.filter((t) => t === 'moov').length > 1) bad('more than one moov');
  if (firstMedia >= 0 && moovAt > firstMedia) bad('moov after the media (QuickTime reads moov first; progressive playback needs it in front)');
  for (const t of facts.topLevel) if (!['ftyp', 'moov', 'sidx', 'moof', 'mdat', 'free', 'skip', 'mfra', 'styp'].includes(t)) bad(`unexpected top-level box ${t}`);

  const tracks = new Map<number, { kind: string; codec: string; timescale: number; trex?: { duration: number; flags: number } }>();
  let movieTimescale = 0;
  let mehdTicks = NaN;
  if (moovAt >= 0) {
    const moov = top[moovAt];
    const mvhd = one(moov, 'mvhd', 'moov');
    if (mvhd) {
      movieTimescale = b.readUInt32BE(mvhd.start + (b[mvhd.start] === 1 ? 20 : 12));
      if (!movieTimescale) bad('mvhd: timescale 0');
    }
    const traks = kids(b, moov).filter((x) => x.type === 'trak');
    if (!traks.length) bad('moov without trak');
    for (const trak of traks) checkTrak(b, trak, tracks, bad, one);
    const mvex = kids(b, moov).find((x) => x.type === 'mvex');
    if (mvex) {
      const mehd = kids(b, mvex).find((x) => x.type === 'mehd');
      // Optional (14496-12); without it a player knows the duration only once it has read every fragment.
      if (mehd) mehdTicks = b[mehd.start] === 1 ? Number(b.readBigUInt64BE(mehd.start + 4)) : b.readUInt32BE(mehd.start + 4);
      for (const trex of kids(b, mvex).filter((x) => x.type === 'trex')) {
        const t = tracks.get(b.readUInt32BE(trex.start + 4));
        if (!t) bad('trex of no track');
        else t.trex = { duration: b.readUInt32BE(trex.start + 12), flags: b.readUInt32BE(trex.start + 20) };
      }
      for (const [id, t] of tracks) if (!t.trex) bad(`track ${id}: no trex`);
    } else if (facts.topLevel.includes('moof')) bad('fragments without mvex in moov');
  }
  for (const [id, t] of tracks) facts.tracks.push({ id, kind: t.kind, codec: t.codec, timescale: t.timescale });
  facts.durationSeconds = movieTimescale ? mehdTicks / movieTimescale : NaN;

  const video = [...tracks].find(([, t]) => t.kind === 'vide');
  const videoId = video?.[0];
  const frags = checkFragments(b, top, tracks, video?.[0], bad);
  facts.fragments = frags.count;
  if (frags.usesMoofBase && !['iso5', 'iso6', 'iso8', 'iso9', 'dash', 'cmfc'].some((c) => facts.compatibleBrands.includes(c) || facts.majorBrand === c)) {
    bad('tfhd default-base-is-moof without the iso5 brand (14496-12: the brand that allows it)');
  }
  if (video) {
    const span = frags.spans.get(video[0]);
    facts.videoSpanSeconds = span ? (span.end - span.start) / video[1].timescale : NaN;
    if (Number.isFinite(facts.durationSeconds) && Math.abs(facts.durationSeconds - facts.videoSpanSeconds) > 0.1) {
      bad(`mehd says ${facts.durationSeconds.toFixed(3)} s, the video runs ${facts.videoSpanSeconds.toFixed(3)} s`);
    }
  }

  // sidx
  const sidxAt = facts.topLevel.indexOf('sidx');
  if (sidxAt >= 0) {
    const sidx = top[sidxAt];
    if (sidxAt < moovAt) bad('sidx before moov');
    const v = b[sidx.start];
    const refId = b.readUInt32BE(sidx.start + 4);
    const timescale = b.readUInt32BE(sidx.start + 8);
    const ept = v === 1 ? Number(b.readBigUInt64BE(sidx.start + 12)) : b.readUInt32BE(sidx.start + 12);
    const firstOffset = v === 1 ? Number(b.readBigUInt64BE(sidx.start + 20)) : b.readUInt32BE(sidx.start + 16);
    let p = sidx.start + (v === 1 ? 28 : 20);
    const count = b.readUInt16BE(p + 2);
    p += 4;
    const t = tracks.get(refId);
    if (!t) bad(`sidx: reference_ID ${refId} is no track`);
    else if (t.timescale !== timescale) bad(`sidx: timescale ${timescale}, its track's ${t.timescale}`);
    const span = frags.spans.get(refId);
    if (span && t && Math.abs(ept - span.start) > t.timescale / 10) bad(`sidx: earliest time ${ept}, the first tfdt ${span.start}`);
    let referenced = 0;
    const sidxEnd = sidx.end;
    for (let i = 0; i < count; i++, p += 12) {
      if (b.readUInt32BE(p) & 0x80000000) bad('sidx: a reference to another sidx (not made here)');
      // starts_with_SAP: the players' seek points. The referenced bytes must begin with a fragment whose first video
      // sample is a sync sample.
      if (b.readUInt32BE(p + 8) & 0x80000000 && refId === videoId && frags.starts.get(sidxEnd + firstOffset + referenced) !== true) {
        bad(`sidx: reference ${i} claims to start with a keyframe; the fragment there does not`);
      }
      referenced += b.readUInt32BE(p) & 0x7fffffff;
    }
    const mediaBytes = top.filter((x, i) => i > sidxAt && (x.type === 'moof' || x.type === 'mdat')).reduce((n, x) => n + x.end - (x.start - headerOf(b, x)), 0);
    if (firstOffset + referenced !== mediaBytes) bad(`sidx: references ${firstOffset + referenced} bytes, the fragments are ${mediaBytes}`);
  }
  return { problems, facts };
}

/** A box's header length (8, or 16 with a 64-bit size): its start is the payload's. */
function headerOf(b: Buffer, x: Box): number {
  return b.readUInt32BE(x.start - 8) === 1 ? 16 : 8;
}

function checkTrak(
  b: Buffer,
  trak: Box,
  tracks: Map<number, { kind: string; codec: string; timescale: number }>,
  bad: (m: string) => void,
  one: (parent: Box, type: string, where: string) => Box | undefined,
): void {
  const tkhd = one(trak, 'tkhd', 'trak');
  const mdia = one(trak, 'mdia', 'trak');
  if (!tkhd || !mdia) return;
  const v1 = b[tkhd.start] === 1;
  const id = b.readUInt32BE(tkhd.start + (v1 ? 20 : 12));
  const where = `track ${id}`;
  if (!id || tracks.has(id)) bad(`${where}: track_ID 0 or not unique`);
  if ((fullFlags(b, tkhd) & 3) !== 3) bad(`${where}: tkhd not enabled and in movie (flags ${fullFlags(b, tkhd)})`);
  const volume = b.readUInt16BE(tkhd.start + (v1 ? 48 : 36));
  const width = b.readUInt32BE(tkhd.start + (v1 ? 88 : 76)) / 65536;
  const height = b.readUInt32BE(tkhd.start + (v1 ? 92 : 80)) / 65536;
  const edts = kids(b, trak).find((x) => x.type === 'edts');
  const elst = edts && kids(b, edts).find((x) => x.type === 'elst');
  if (edts && !elst) bad(`${where}: edts without elst`);
  if (elst) {
    const ev1 = b[elst.start] === 1;
    const n = b.readUInt32BE(elst.start + 4);
    const size = ev1 ? 20 : 12;
    if (elst.start + 8 + n * size > elst.end) bad(`${where}: elst shorter than its entries`);
    for (let i = 0, p = elst.start + 8; i < n && p + size <= elst.end; i++, p += size) {
      const mediaTime = ev1 ? Number(b.readBigInt64BE(p + 8)) : b.readInt32BE(p + 4);
      const rate = b.readInt16BE(p + (ev1 ? 16 : 8));
      if (mediaTime < -1) bad(`${where}: elst media_time ${mediaTime}`);
      if (mediaTime !== -1 && rate !== 1) bad(`${where}: elst rate ${rate} (QuickTime plays 1)`);
    }
  }
  const mdhd = one(mdia, 'mdhd', where);
  const hdlr = one(mdia, 'hdlr', where);
  const minf = one(mdia, 'minf', where);
  const timescale = mdhd ? b.readUInt32BE(mdhd.start + (b[mdhd.start] === 1 ? 20 : 12)) : 0;
  if (mdhd && !timescale) bad(`${where}: mdhd timescale 0`);
  const kind = hdlr ? b.toString('latin1', hdlr.start + 8, hdlr.start + 12) : '';
  if (kind !== 'vide' && kind !== 'soun') bad(`${where}: handler ${JSON.stringify(kind)}`);
  const t = { kind, codec: '', timescale };
  tracks.set(id, t);
  if (!minf) return;
  if (kind === 'vide') {
    one(minf, 'vmhd', where);
    if (!(width > 0 && height > 0)) bad(`${where}: tkhd has no picture size`);
  }
  if (kind === 'soun') {
    one(minf, 'smhd', where);
    if (volume !== 0x0100) bad(`${where}: audio volume ${volume.toString(16)} (want 0x0100)`);
  }
  const dinf = one(minf, 'dinf', where);
  const dref = dinf && one(dinf, 'dref', `${where} dinf`);
  if (dref) {
    const entry = boxes(b, dref.start + 8, dref.end)[0];
    if (!entry || (entry.type !== 'url ' && entry.type !== 'urn ') || (fullFlags(b, entry) & 1) !== 1) bad(`${where}: dref is not self-contained (url with flag 1)`);
  }
  const stbl = one(minf, 'stbl', where);
  if (!stbl) return;
  const stsd = one(stbl, 'stsd', where);
  const types = kids(b, stbl).map((x) => x.type);
  if (!types.includes('stts')) bad(`${where}: no stts`);
  if (!types.includes('stsc')) bad(`${where}: no stsc`);
  if (!types.includes('stsz') && !types.includes('stz2')) bad(`${where}: no stsz/stz2`);
  if (!types.includes('stco') && !types.includes('co64')) bad(`${where}: no stco/co64`);
  const stsz = kids(b, stbl).find((x) => x.type === 'stsz');
  const inMoov = stsz ? b.readUInt32BE(stsz.start + 8) : 0;
  if (kind === 'vide' && inMoov > 0 && !types.includes('stss')) bad(`${where}: samples in moov without stss (every frame a keyframe?)`);
  for (const table of ['stts', 'stsc', 'stco', 'co64']) {
    const x = kids(b, stbl).find((k) => k.type === table);
    if (x && inMoov === 0 && b.readUInt32BE(x.start + 4) !== 0) bad(`${where}: ${table} has entries but stsz no samples`);
  }
  if (!stsd) return;
  if (b.readUInt32BE(stsd.start + 4) !== 1) bad(`${where}: stsd has ${b.readUInt32BE(stsd.start + 4)} entries (want 1)`);
  const entry = boxes(b, stsd.start + 8, stsd.end)[0];
  if (!entry) {
    bad(`${where}: empty stsd`);
    return;
  }
  t.codec = entry.type;
  if (b.readUInt16BE(entry.start + 6) !== 1) bad(`${where}: sample entry data_reference_index is not 1`);
  if (kind === 'vide') {
    if (entry.type !== 'avc1' && entry.type !== 'avc3') {
    bad(`${where}: sample entry ${entry.type} (this check knows avc1/avc3)`);
    return;
  }
    const w = b.readUInt16BE(entry.start + 24);
    const h = b.readUInt16BE(entry.start + 26);
    if (w !== Math.round(width) || h !== Math.round(height)) bad(`${where}: ${entry.type} is ${w}x${h}, tkhd ${width}x${height}`);
    const avcC = boxes(b, entry.start + 78, entry.end).find((x) => x.type === 'avcC');
    if (!avcC) {
    bad(`${where}: ${entry.type} without avcC`);
    return;
  }
    checkAvcC(b, avcC, where, bad);
  } else {
    if (entry.type !== 'mp4a') {
    bad(`${where}: sample entry ${entry.type} (this check knows mp4a)`);
    return;
  }
    if (!b.readUInt16BE(entry.start + 16)) bad(`${where}: mp4a channelcount 0`);
    if (b.readUInt16BE(entry.start + 18) !== 16) bad(`${where}: mp4a samplesize ${b.readUInt16BE(entry.start + 18)} (want 16)`);
    if (!(b.readUInt32BE(entry.start + 24) >>> 16)) bad(`${where}: mp4a samplerate 0`);
    const esds = boxes(b, entry.start + 28, entry.end).find((x) => x.type === 'esds');
    if (!esds) {
    bad(`${where}: mp4a without esds`);
    return;
  }
    checkEsds(b, esds, where, bad);
  }
}

function checkAvcC(b: Buffer, avcC: Box, where: string, bad: (m: string) => void): void {
  let p = avcC.start;
  if (b[p] !== 1) bad(`${where}: avcC configurationVersion ${b[p]}`);
  if ((b[p + 4] & 3) !== 3) bad(`${where}: avcC NAL length size ${(b[p + 4] & 3) + 1} (this check reads 4)`);
  const sps = b[p + 5] & 0x1f;
  if (!sps) bad(`${where}: avcC without SPS`);
  p += 6;
  for (let i = 0; i < sps && p + 2 <= avcC.end; i++) {
    const n = b.readUInt16BE(p);
    if ((b[p + 2] & 0x1f) !== 7) bad(`${where}: avcC SPS is NAL type ${b[p + 2] & 0x1f}`);
    p += 2 + n;
  }
  const pps = p < avcC.end ? b[p] : 0;
  if (!pps) bad(`${where}: avcC without PPS`);
  p += 1;
  for (let i = 0; i < pps && p + 2 <= avcC.end; i++) {
    const n = b.readUInt16BE(p);
    if ((b[p + 2] & 0x1f) !== 8) bad(`${where}: avcC PPS is NAL type ${b[p + 2] & 0x1f}`);
    p += 2 + n;
  }
  if (p > avcC.end) bad(`${where}: avcC shorter than its parameter sets`);
}

/** One MPEG-4 descriptor at `p`: tag, payload start, end. */
function descriptor(b: Buffer, p: number, end: number): { tag: number; start: number; end: number } | null {
  if (p + 2 > end) return null;
  const tag = b[p++];
  let size = 0;
  for (let i = 0; i < 4 && p < end; i++) {
    const c = b[p++];
    size = (size << 7) | (c & 0x7f);
    if (!(c & 0x80)) break;
  }
  return p + size <= end ? { tag, start: p, end: p + size } : null;
}

function checkEsds(b: Buffer, esds: Box, where: string, bad: (m: string) => void): void {
  const es = descriptor(b, esds.start + 4, esds.end);
  if (!es || es.tag !== 3) {
    bad(`${where}: esds without an ES_Descriptor`);
    return;
  }
  let p = es.start + 2;
  const flags = b[p++];
  if (flags & 0x80) p += 2;
  if (flags & 0x40) p += 1 + b[p];
  if (flags & 0x20) p += 2;
  const dc = descriptor(b, p, es.end);
  if (!dc || dc.tag !== 4) {
    bad(`${where}: esds without a DecoderConfigDescriptor`);
    return;
  }
  if (b[dc.start] !== 0x40) bad(`${where}: esds objectTypeIndication 0x${b[dc.start].toString(16)} (AAC is 0x40)`);
  if (b[dc.start + 1] >> 2 !== 5) bad(`${where}: esds streamType ${b[dc.start + 1] >> 2} (audio is 5)`);
  const dsi = descriptor(b, dc.start + 13, dc.end);
  if (!dsi || dsi.tag !== 5 || dsi.end - dsi.start < 2) bad(`${where}: esds without an AudioSpecificConfig`);
}

function checkFragments(
  b: Buffer,
  top: Box[],
  tracks: Map<number, { kind: string; timescale: number; trex?: { duration: number; flags: number } }>,
  videoId: number | undefined,
  bad: (m: string) => void,
): { count: number; usesMoofBase: boolean; spans: Map<number, { start: number; end: number }>; starts: Map<number, boolean> } {
  /** Where each fragment with video begins (its moof) -> whether its first video sample is a sync sample. */
  const starts = new Map<number, boolean>();
  let seq = 0;
  let count = 0;
  let usesMoofBase = false;
  const spans = new Map<number, { start: number; end: number }>();
  top.forEach((moof, i) => {
    if (moof.type !== 'moof') return;
    count++;
    const where = `fragment ${count}`;
    const mdat = top[i + 1];
    if (mdat?.type !== 'mdat') {
    bad(`${where}: moof not followed by mdat`);
    return;
  }
    const moofStart = moof.start - headerOf(b, moof);
    const mfhd = kids(b, moof).find((x) => x.type === 'mfhd');
    const n = mfhd ? b.readUInt32BE(mfhd.start + 4) : 0;
    if (!mfhd || n <= seq) bad(`${where}: mfhd sequence ${n} after ${seq}`);
    seq = n;
    for (const traf of kids(b, moof).filter((x) => x.type === 'traf')) {
      const tfhd = kids(b, traf).find((x) => x.type === 'tfhd');
      const tfdt = kids(b, traf).find((x) => x.type === 'tfdt');
      if (!tfhd || !tfdt) {
        bad(`${where}: traf without tfhd or tfdt`);
        continue;
      }
      const tf = fullFlags(b, tfhd);
      const id = b.readUInt32BE(tfhd.start + 4);
      const track = tracks.get(id);
      if (!track?.trex) {
        bad(`${where}: traf of unknown track ${id}`);
        continue;
      }
      if (tf & 0x020000) usesMoofBase = true;
      let q = tfhd.start + 8;
      let base = moofStart;
      if (tf & 0x1) {
        base = Number(b.readBigUInt64BE(q));
        q += 8;
      } else if (!(tf & 0x020000)) bad(`${where}: tfhd without base-data-offset or default-base-is-moof (the base is then the previous fragment's end)`);
      if (tf & 0x2) q += 4;
      const defDuration = tf & 0x8 ? b.readUInt32BE(q) : track.trex.duration;
      if (tf & 0x8) q += 4;
      const defSize = tf & 0x10 ? b.readUInt32BE(q) : 0;
      if (tf & 0x10) q += 4;
      const defFlags = tf & 0x20 ? b.readUInt32BE(q) : track.trex.flags;
      const decode = b[tfdt.start] === 1 ? Number(b.readBigUInt64BE(tfdt.start + 4)) : b.readUInt32BE(tfdt.start + 4);
      const span = spans.get(id);
      if (span && decode < span.end) bad(`${where}: track ${id} decode time ${decode} goes back (previous end ${span.end})`);
      let duration = 0;
      for (const trun of kids(b, traf).filter((x) => x.type === 'trun')) {
        const f = fullFlags(b, trun);
        const samples = b.readUInt32BE(trun.start + 4);
        let r = trun.start + 8;
        let dataAt = base;
        if (f & 0x1) {
          dataAt = base + b.readInt32BE(r);
          r += 4;
        } else bad(`${where}: trun without data_offset`);
        const firstFlags = f & 0x4 ? b.readUInt32BE(r) : null;
        if (f & 0x4) r += 4;
        for (let s = 0; s < samples; s++) {
          const d = f & 0x100 ? b.readUInt32BE(r) : defDuration;
          if (f & 0x100) r += 4;
          const size = f & 0x200 ? b.readUInt32BE(r) : defSize;
          if (f & 0x200) r += 4;
          let flags = s === 0 && firstFlags !== null ? firstFlags : defFlags;
          if (f & 0x400) {
            flags = b.readUInt32BE(r);
            r += 4;
          }
          if (f & 0x800) r += 4;
          if (dataAt < mdat.start || dataAt + size > mdat.end) {
            bad(`${where}: track ${id} sample ${s} lies outside its mdat`);
            break;
          }
          if (id === videoId) {
            const sync = !(flags & 0x10000);
            if (s === 0 && duration === 0) starts.set(moofStart, sync);
            if (count === 1 && s === 0 && duration === 0 && !sync) bad(`${where}: the video does not start with a sync sample`);
            checkAvcSample(b, dataAt, size, sync, where, bad);
          }
          dataAt += size;
          duration += d;
        }
        if (r > trun.end) bad(`${where}: trun shorter than its samples`);
      }
      spans.set(id, { start: span?.start ?? decode, end: decode + duration });
    }
  });
  return { count, usesMoofBase, spans, starts };
}

/** A video sample: 4-byte-length NAL units that fill it exactly; one flagged sync holds an IDR (type 5). */
function checkAvcSample(b: Buffer, at: number, size: number, sync: boolean, where: string, bad: (m: string) => void): void {
  let p = at;
  let idr = false;
  while (p + 4 <= at + size) {
    const n = b.readUInt32BE(p);
    if (!n || p + 4 + n > at + size) break;
    if ((b[p + 4] & 0x1f) === 5) idr = true;
    p += 4 + n;
  }
  if (p !== at + size) bad(`${where}: a video sample is not whole 4-byte-length NAL units`);
  else if (sync && !idr) bad(`${where}: a video sample flagged sync holds no IDR`);
}
