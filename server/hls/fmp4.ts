/**
 * Fragmented MP4 (CMAF) writer for LL-HLS: one init segment per rendition, then one `moof`+`mdat` per part.
 * Written from ISO/IEC 14496-12 (ISO BMFF), 14496-14 (esds) and 14496-15 (avcC). See docs/decisions/fmp4-writer.md.
 *
 * Layout:
 *   init     = ftyp, moov(mvhd, trak(tkhd, mdia(mdhd, hdlr, minf(vmhd|smhd, dinf(dref(url)), stbl(stsd, stts, stsc,
 *              stsz, stco))))..., mvex(trex...))
 *   fragment = moof(mfhd, traf(tfhd, tfdt, trun)...), mdat
 */
import { parseAsc } from './aac';
import { parseAvcC } from './h264';
import type { AudioTrackInfo, Sample, TrackFragment, VideoTrackInfo } from './types';

export type { AudioTrackInfo, Sample, TrackFragment, VideoTrackInfo } from './types';

export const VIDEO_TRACK_ID = 1;
export const AUDIO_TRACK_ID = 2;

/** trun sample_flags (14496-12 8.8.3.1): sample_depends_on=2 (does not depend on others), sync. */
export const SAMPLE_FLAGS_SYNC = 0x02000000;
/** sample_depends_on=1 (depends on others), sample_is_non_sync_sample=1. */
export const SAMPLE_FLAGS_NON_SYNC = 0x01010000;

const UINT32_MAX = 0xffffffff;

// ---------------------------------------------------------------------------------------------------------------
// Init segment. Built once per rendition, so clarity beats speed here: small buffers concatenated.

const u8 = (v: number): Buffer => Buffer.from([v & 0xff]);
const u16 = (v: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
const zeros = (n: number): Buffer => Buffer.alloc(n);
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

function box(type: string, ...payload: Buffer[]): Buffer {
  if (type.length !== 4) throw new Error(`box type '${type}' is not 4 characters`);
  const size = payload.reduce((n, b) => n + b.length, 8);
  return Buffer.concat([u32(size), ascii(type), ...payload], size);
}

function fullBox(type: string, version: number, flags: number, ...payload: Buffer[]): Buffer {
  return box(type, u32((version & 0xff) * 0x1000000 + (flags & 0xffffff)), ...payload);
}

/** Unity transformation matrix (14496-12 8.2.2). */
const MATRIX = Buffer.concat([0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000].map(u32));

function ftyp(hasVideo: boolean): Buffer {
  // 'iso6': tfdt v1 / trun v1 and the rest of the fragment toolbox; 'cmfc': CMAF track format; 'iso5', 'isom',
  // 'mp41' for older parsers; 'avc1' announces AVC content (14496-15).
  const brands = ['iso6', 'cmfc', 'iso5', 'isom', 'mp41', ...(hasVideo ? ['avc1'] : [])];
  return box('ftyp', ascii('iso6'), u32(0), ...brands.map(ascii));
}

function mvhd(nextTrackId: number): Buffer {
  return fullBox(
    'mvhd', 0, 0,
    u32(0), // creation_time
    u32(0), // modification_time
    u32(1000), // timescale
    u32(0), // duration: unknown (fragmented, live)
    u32(0x00010000), // rate 1.0
    u16(0x0100), // volume 1.0
    zeros(10), // reserved
    MATRIX,
    zeros(24), // pre_defined
    u32(nextTrackId),
  );
}

function tkhd(trackId: number, isAudio: boolean, width: number, height: number): Buffer {
  return fullBox(
    'tkhd', 0, 0x000003, // track_enabled | track_in_movie
    u32(0), // creation_time
    u32(0), // modification_time
    u32(trackId),
    u32(0), // reserved
    u32(0), // duration
    zeros(8), // reserved
    u16(0), // layer
    u16(0), // alternate_group
    u16(isAudio ? 0x0100 : 0), // volume
    u16(0), // reserved
    MATRIX,
    u32(width * 0x10000), // width, 16.16
    u32(height * 0x10000), // height, 16.16
  );
}

function mdhd(timescale: number): Buffer {
  // language 'und' packed as three 5-bit values of (char - 0x60)
  const und = (('u'.charCodeAt(0) - 0x60) << 10) | (('n'.charCodeAt(0) - 0x60) << 5) | ('d'.charCodeAt(0) - 0x60);
  return fullBox('mdhd', 0, 0, u32(0), u32(0), u32(timescale), u32(0), u16(und), u16(0));
}

function hdlr(handler: 'vide' | 'soun', name: string): Buffer {
  return fullBox('hdlr', 0, 0, u32(0), ascii(handler), zeros(12), ascii(name), u8(0));
}

function dinf(): Buffer {
  return box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 0x000001 /* self-contained */)));
}

function emptySampleTables(): Buffer[] {
  return [
    fullBox('stts', 0, 0, u32(0)),
    fullBox('stsc', 0, 0, u32(0)),
    fullBox('stsz', 0, 0, u32(0), u32(0)),
    fullBox('stco', 0, 0, u32(0)),
  ];
}

function avc1(info: VideoTrackInfo): Buffer {
  const compressor = zeros(32); // compressorname: Pascal string, left empty
  return box(
    'avc1',
    zeros(6), // reserved
    u16(1), // data_reference_index
    u16(0), // pre_defined
    u16(0), // reserved
    zeros(12), // pre_defined
    u16(info.width),
    u16(info.height),
    u32(0x00480000), // horizresolution 72 dpi
    u32(0x00480000), // vertresolution 72 dpi
    u32(0), // reserved
    u16(1), // frame_count
    compressor,
    u16(0x0018), // depth
    u16(0xffff), // pre_defined = -1
    box('avcC', info.avcC),
  );
}

/** MPEG-4 Systems descriptor (14496-1 8.3.3): tag, then the size as 7-bit groups with a continuation bit. */
function descriptor(tag: number, ...payload: Buffer[]): Buffer {
  const size = payload.reduce((n, b) => n + b.length, 0);
  if (size >= 1 << 28) throw new Error(`descriptor of ${size} bytes is too large`);
  const sizeBytes: number[] = [size & 0x7f];
  for (let s = size >> 7; s > 0; s >>= 7) sizeBytes.unshift((s & 0x7f) | 0x80);
  return Buffer.concat([u8(tag), Buffer.from(sizeBytes), ...payload]);
}

function esds(asc: Buffer): Buffer {
  const decoderSpecificInfo = descriptor(0x05, asc);
  const decoderConfig = descriptor(
    0x04,
    u8(0x40), // objectTypeIndication: Audio ISO/IEC 14496-3
    u8((0x05 << 2) | 0x01), // streamType 5 (audio), upStream 0, reserved 1
    Buffer.from([0, 0, 0]), // bufferSizeDB: unknown
    u32(0), // maxBitrate: unknown
    u32(0), // avgBitrate: unknown (variable)
    decoderSpecificInfo,
  );
  const slConfig = descriptor(0x06, u8(0x02)); // predefined = 2 (MP4 files)
  const esDescriptor = descriptor(
    0x03,
    u16(0), // ES_ID: 0 in MP4 files (14496-14 3.1.2)
    u8(0), // streamDependenceFlag, URL_Flag, OCRstreamFlag, streamPriority
    decoderConfig,
    slConfig,
  );
  return fullBox('esds', 0, 0, esDescriptor);
}

function mp4a(info: AudioTrackInfo): Buffer {
  return box(
    'mp4a',
    zeros(6), // reserved
    u16(1), // data_reference_index
    zeros(8), // reserved (version 0 AudioSampleEntry)
    u16(info.channels),
    u16(16), // samplesize
    u16(0), // pre_defined
    u16(0), // reserved
    // samplerate is 16.16 and only fits rates below 65536; above that the AudioSpecificConfig is authoritative.
    u32(info.sampleRate <= 0xffff ? info.sampleRate * 0x10000 : 0),
    esds(info.asc),
  );
}

function trak(
  trackId: number,
  kind: 'video' | 'audio',
  timescale: number,
  w: number,
  h: number,
  entry: Buffer,
): Buffer {
  const isAudio = kind === 'audio';
  const mediaHeader = isAudio
    ? fullBox('smhd', 0, 0, u16(0) /* balance */, u16(0))
    : fullBox('vmhd', 0, 0x000001, u16(0) /* graphicsmode */, zeros(6) /* opcolor */);
  return box(
    'trak',
    tkhd(trackId, isAudio, w, h),
    box(
      'mdia',
      mdhd(timescale),
      hdlr(isAudio ? 'soun' : 'vide', isAudio ? 'SoundHandler' : 'VideoHandler'),
      box('minf', mediaHeader, dinf(), box('stbl', fullBox('stsd', 0, 0, u32(1), entry), ...emptySampleTables())),
    ),
  );
}

function trex(trackId: number): Buffer {
  return fullBox(
    'trex', 0, 0,
    u32(trackId),
    u32(1), // default_sample_description_index
    u32(0), // default_sample_duration
    u32(0), // default_sample_size
    u32(0), // default_sample_flags
  );
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${what} must be an integer in 0..${max}, got ${v}`);
  }
}

/**
 * The init segment (ftyp + moov) for an H.264 video track (track_ID 1) and/or an AAC audio track (track_ID 2).
 * Validates the avcC and AudioSpecificConfig (throws on malformed ones).
 */
export function initSegment(tracks: { video?: VideoTrackInfo; audio?: AudioTrackInfo }): Buffer {
  const { video, audio } = tracks;
  if (!video && !audio) throw new Error('initSegment: no tracks');
  const traks: Buffer[] = [];
  const trexes: Buffer[] = [];
  if (video) {
    if (video.codec !== 'h264') throw new Error(`initSegment: unsupported video codec ${String(video.codec)}`);
    checkUint(video.width, 0xffff, 'video width');
    checkUint(video.height, 0xffff, 'video height');
    checkUint(video.timescale, UINT32_MAX, 'video timescale');
    if (video.timescale === 0) throw new RangeError('video timescale must be > 0');
    parseAvcC(video.avcC);
    traks.push(trak(VIDEO_TRACK_ID, 'video', video.timescale, video.width, video.height, avc1(video)));
    trexes.push(trex(VIDEO_TRACK_ID));
  }
  if (audio) {
    if (audio.codec !== 'aac') throw new Error(`initSegment: unsupported audio codec ${String(audio.codec)}`);
    checkUint(audio.channels, 0xffff, 'audio channels');
    checkUint(audio.sampleRate, UINT32_MAX, 'audio sampleRate');
    checkUint(audio.timescale, UINT32_MAX, 'audio timescale');
    if (audio.timescale === 0) throw new RangeError('audio timescale must be > 0');
    parseAsc(audio.asc);
    traks.push(trak(AUDIO_TRACK_ID, 'audio', audio.timescale, 0, 0, mp4a(audio)));
    trexes.push(trex(AUDIO_TRACK_ID));
  }
  const moov = box('moov', mvhd(AUDIO_TRACK_ID + 1), ...traks, box('mvex', ...trexes));
  return Buffer.concat([ftyp(!!video), moov]);
}

// ---------------------------------------------------------------------------------------------------------------
// Media fragments. Runs for every part of every stream: sizes first, one allocation, one copy per sample.

const fourcc = (s: string): number =>
  s.charCodeAt(0) * 0x1000000 + ((s.charCodeAt(1) << 16) | (s.charCodeAt(2) << 8) | s.charCodeAt(3));
const MOOF = fourcc('moof');
const MFHD = fourcc('mfhd');
const TRAF = fourcc('traf');
const TFHD = fourcc('tfhd');
const TFDT = fourcc('tfdt');
const TRUN = fourcc('trun');
const MDAT = fourcc('mdat');

const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;
const TRUN_DATA_OFFSET = 0x000001;
const TRUN_DURATION = 0x000100;
const TRUN_SIZE = 0x000200;
const TRUN_FLAGS = 0x000400;
const TRUN_CTO = 0x000800;

const MFHD_SIZE = 16; // header 8 + version/flags 4 + sequence_number 4
const TFHD_SIZE = 16; // header 8 + version/flags 4 + track_ID 4
const TFDT_SIZE = 20; // header 8 + version/flags 4 + baseMediaDecodeTime 8 (version 1)
const TRUN_HEADER_SIZE = 20; // header 8 + version/flags 4 + sample_count 4 + data_offset 4
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

function hasCompositionOffsets(samples: Sample[]): boolean {
  for (let i = 0; i < samples.length; i++) if (samples[i].cts !== 0) return true;
  return false;
}

/**
 * One movie fragment: `moof` (mfhd + one traf per non-empty track, in the given order) and one `mdat` holding
 * every sample of every track in that same order. `seq` is the mfhd sequence_number (start at 1, +1 per fragment).
 * Each traf has tfhd (default-base-is-moof), tfdt v1 (baseDecodeTime), and a trun with data_offset and per-sample
 * duration, size and flags, plus signed composition offsets (trun v1) when any sample of that track has cts != 0.
 * Throws RangeError on values that do not fit their fields, or if there is no sample at all.
 */
export function mediaFragment(seq: number, parts: TrackFragment[]): Buffer {
  checkUint(seq, UINT32_MAX, 'mediaFragment: sequence number');
  let moofSize = 8 + MFHD_SIZE;
  let dataSize = 0;
  let sampleCount = 0;
  for (let p = 0; p < parts.length; p++) {
    const { trackId, baseDecodeTime, samples } = parts[p];
    if (samples.length === 0) continue;
    if (!Number.isInteger(trackId) || trackId < 1 || trackId > UINT32_MAX) {
      throw new RangeError(`mediaFragment: bad trackId ${trackId}`);
    }
    if (!Number.isSafeInteger(baseDecodeTime) || baseDecodeTime < 0) {
      throw new RangeError(
        `mediaFragment: track ${trackId} baseDecodeTime must be a non-negative integer, got ${baseDecodeTime}`,
      );
    }
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      if (!(s.duration >= 0 && s.duration <= UINT32_MAX && Number.isInteger(s.duration))) {
        throw new RangeError(`mediaFragment: track ${trackId} sample ${i} duration ${s.duration} is not a uint32`);
      }
      if (!(s.cts >= INT32_MIN && s.cts <= INT32_MAX && Number.isInteger(s.cts))) {
        throw new RangeError(`mediaFragment: track ${trackId} sample ${i} cts ${s.cts} is not an int32`);
      }
      dataSize += s.data.length;
    }
    sampleCount += samples.length;
    const perSample = hasCompositionOffsets(samples) ? 16 : 12;
    moofSize += 8 + TFHD_SIZE + TFDT_SIZE + TRUN_HEADER_SIZE + samples.length * perSample;
  }
  if (sampleCount === 0) throw new RangeError('mediaFragment: no samples');
  const total = moofSize + 8 + dataSize;
  if (total > UINT32_MAX) throw new RangeError(`mediaFragment: ${total} bytes does not fit 32-bit box sizes`);

  const buf = Buffer.allocUnsafe(total); // every byte is written below
  let o = 0;
  // moof
  buf.writeUInt32BE(moofSize, 0);
  buf.writeUInt32BE(MOOF, 4);
  // mfhd
  buf.writeUInt32BE(MFHD_SIZE, 8);
  buf.writeUInt32BE(MFHD, 12);
  buf.writeUInt32BE(0, 16);
  buf.writeUInt32BE(seq, 20);
  o = 24;
  let dataOffset = moofSize + 8; // first sample byte, relative to the start of moof (default-base-is-moof)
  for (let p = 0; p < parts.length; p++) {
    const { trackId, baseDecodeTime, samples } = parts[p];
    const n = samples.length;
    if (n === 0) continue;
    const cto = hasCompositionOffsets(samples);
    const trunSize = TRUN_HEADER_SIZE + n * (cto ? 16 : 12);
    // traf
    buf.writeUInt32BE(8 + TFHD_SIZE + TFDT_SIZE + trunSize, o);
    buf.writeUInt32BE(TRAF, o + 4);
    o += 8;
    // tfhd
    buf.writeUInt32BE(TFHD_SIZE, o);
    buf.writeUInt32BE(TFHD, o + 4);
    buf.writeUInt32BE(TFHD_DEFAULT_BASE_IS_MOOF, o + 8); // version 0
    buf.writeUInt32BE(trackId, o + 12);
    o += TFHD_SIZE;
    // tfdt, version 1: 64-bit baseMediaDecodeTime
    buf.writeUInt32BE(TFDT_SIZE, o);
    buf.writeUInt32BE(TFDT, o + 4);
    buf.writeUInt32BE(0x01000000, o + 8);
    buf.writeUInt32BE(Math.floor(baseDecodeTime / 0x100000000), o + 12);
    buf.writeUInt32BE(baseDecodeTime % 0x100000000, o + 16);
    o += TFDT_SIZE;
    // trun
    const flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | (cto ? TRUN_CTO : 0);
    buf.writeUInt32BE(trunSize, o);
    buf.writeUInt32BE(TRUN, o + 4);
    buf.writeUInt32BE((cto ? 0x01000000 : 0) + flags, o + 8); // version 1: signed composition offsets
    buf.writeUInt32BE(n, o + 12);
    buf.writeInt32BE(dataOffset, o + 16);
    o += TRUN_HEADER_SIZE;
    for (let i = 0; i < n; i++) {
      const s = samples[i];
      buf.writeUInt32BE(s.duration, o);
      buf.writeUInt32BE(s.data.length, o + 4);
      buf.writeUInt32BE(s.keyframe ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC, o + 8);
      if (cto) {
        buf.writeInt32BE(s.cts, o + 12);
        o += 16;
      } else {
        o += 12;
      }
      dataOffset += s.data.length;
    }
  }
  // mdat
  buf.writeUInt32BE(8 + dataSize, o);
  buf.writeUInt32BE(MDAT, o + 4);
  o += 8;
  for (let p = 0; p < parts.length; p++) {
    const samples = parts[p].samples;
    for (let i = 0; i < samples.length; i++) {
      const d = samples[i].data;
      d.copy(buf, o);
      o += d.length;
    }
  }
  if (o !== total) throw new Error(`mediaFragment: internal size mismatch (${o} != ${total})`);
  return buf;
}
