import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAsc } from './aac';
import {
  AUDIO_TRACK_ID,
  initSegment,
  mediaFragment,
  SAMPLE_FLAGS_NON_SYNC,
  SAMPLE_FLAGS_SYNC,
  VIDEO_TRACK_ID,
} from './fmp4';
import { parseAvcC, parseSps } from './h264';
import type { AudioTrackInfo, Sample, TrackFragment, VideoTrackInfo } from './types';

// ---------------------------------------------------------------------------------------------------------------
// Fixtures: real ffmpeg output in FLV, read with a minimal FLV tag reader.

let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fmp4-test-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface FlvMedia {
  avcC?: Buffer;
  asc?: Buffer;
  /** Video samples in 90 kHz. */
  video: Sample[];
  /** Audio samples in sample-rate units. */
  audio: Sample[];
  sampleRate: number;
}

function readFlv(file: Buffer, sampleRate: number): FlvMedia {
  assert.equal(file.subarray(0, 3).toString('latin1'), 'FLV');
  let off = file.readUInt32BE(5) + 4; // header, PreviousTagSize0
  const out: FlvMedia = { video: [], audio: [], sampleRate };
  let firstAudioMs = -1;
  while (off + 11 <= file.length) {
    const type = file[off] & 0x1f;
    const size = file.readUIntBE(off + 1, 3);
    const ms = file.readUIntBE(off + 4, 3) + file[off + 7] * 0x1000000;
    const body = file.subarray(off + 11, off + 11 + size);
    off += 11 + size + 4;
    if (type === 9) {
      assert.equal(body[0] & 0x0f, 7, 'AVC');
      const cts = body.readIntBE(2, 3);
      if (body[1] === 0) out.avcC = Buffer.from(body.subarray(5));
      else if (body[1] === 1) {
        const keyframe = body[0] >> 4 === 1;
        out.video.push({ dts: ms * 90, cts: cts * 90, duration: 0, keyframe, data: Buffer.from(body.subarray(5)) });
      }
    } else if (type === 8) {
      assert.equal(body[0] >> 4, 10, 'AAC');
      if (body[1] === 0) out.asc = Buffer.from(body.subarray(2));
      else {
        if (firstAudioMs < 0) firstAudioMs = ms;
        const dts = Math.round((firstAudioMs * sampleRate) / 1000) + out.audio.length * 1024;
        out.audio.push({ dts, cts: 0, duration: 1024, keyframe: true, data: Buffer.from(body.subarray(2)) });
      }
    }
  }
  const v = out.video;
  for (let i = 0; i < v.length; i++) v[i].duration = i + 1 < v.length ? v[i + 1].dts - v[i].dts : (v[i - 1]?.duration ?? 3000);
  return out;
}

function ffmpegFlv(name: string, args: string[], sampleRate = 48000): FlvMedia {
  const file = path.join(dir, `${name}.flv`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args, '-f', 'flv', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  return readFlv(readFileSync(file), sampleRate);
}

function videoInfo(avcC: Buffer): VideoTrackInfo {
  const sps = parseSps(parseAvcC(avcC).sps[0]);
  return { codec: 'h264', avcC, width: sps.width, height: sps.height, timescale: 90000 };
}

function audioInfo(asc: Buffer): AudioTrackInfo {
  const a = parseAsc(asc);
  return { codec: 'aac', asc, sampleRate: a.sampleRate, channels: a.channels, timescale: a.sampleRate };
}

/** Cut the samples into ~partMs parts by decode time; one fragment per part holding both tracks. */
function fragments(media: FlvMedia, partMs: number, tracks: { video: boolean; audio: boolean }): Buffer[] {
  const out: Buffer[] = [];
  let vi = 0;
  let ai = 0;
  const v = tracks.video ? media.video : [];
  const a = tracks.audio ? media.audio : [];
  for (let k = 1, seq = 1; vi < v.length || ai < a.length; k++) {
    const endS = (k * partMs) / 1000;
    const vs: Sample[] = [];
    const as: Sample[] = [];
    while (vi < v.length && v[vi].dts / 90000 < endS) vs.push(v[vi++]);
    while (ai < a.length && a[ai].dts / media.sampleRate < endS) as.push(a[ai++]);
    const parts: TrackFragment[] = [];
    if (vs.length) parts.push({ trackId: VIDEO_TRACK_ID, baseDecodeTime: vs[0].dts, samples: vs });
    if (as.length) parts.push({ trackId: AUDIO_TRACK_ID, baseDecodeTime: as[0].dts, samples: as });
    if (parts.length) out.push(mediaFragment(seq++, parts));
  }
  return out;
}

function ffprobeJson(file: string, args: string[]): { streams?: Record<string, unknown>[]; packets?: Record<string, unknown>[] } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-of', 'json', ...args, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'ffprobe printed errors');
  return JSON.parse(r.stdout);
}

function ffmpegDecodeErrors(file: string): string {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr;
}

// ---------------------------------------------------------------------------------------------------------------
// A tiny box reader for structural checks.

interface Box {
  type: string;
  start: number;
  size: number;
  body: Buffer;
}
function boxes(buf: Buffer, start = 0, end = buf.length): Box[] {
  const out: Box[] = [];
  for (let o = start; o < end; ) {
    const size = buf.readUInt32BE(o);
    assert.ok(size >= 8 && o + size <= end, `box at ${o} of size ${size} overruns ${end}`);
    out.push({ type: buf.toString('latin1', o + 4, o + 8), start: o, size, body: buf.subarray(o + 8, o + size) });
    o += size;
  }
  return out;
}
const child = (b: Box, type: string, skip = 0): Box => {
  const found = boxes(b.body, skip).find((x) => x.type === type);
  assert.ok(found, `${b.type} has no ${type}`);
  return found;
};

// ---------------------------------------------------------------------------------------------------------------

describe('fmp4 with real ffmpeg media', () => {
  test('H.264 High with B-frames + AAC 48k stereo, 200 ms parts, 64-bit tfdt, negative cts: ffmpeg decodes all', () => {
    const media = ffmpegFlv('high', [
      '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30:duration=2',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=2',
      '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-bf', '2', '-g', '30', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-ac', '2', '-b:a', '96k',
    ]);
    assert.ok(media.avcC && media.asc);
    assert.ok(media.video.length >= 59 && media.audio.length >= 90, `${media.video.length} video, ${media.audio.length} audio`);
    assert.ok(media.video.some((s) => s.cts > media.video[0].cts), 'expected B-frames (reordered cts)');

    // A stream that has been up for 50000 s: decode times past 2^32 in 90 kHz. Also shift decode times by the first
    // frame's composition offset so B-frames get negative cts (pts unchanged), as CMAF writers commonly do.
    const offsetS = 50000;
    const shift = media.video[0].cts;
    for (const s of media.video) {
      s.dts += offsetS * 90000 + shift;
      s.cts -= shift;
    }
    for (const s of media.audio) s.dts += offsetS * 48000;
    assert.ok(media.video[0].dts > 2 ** 32);
    assert.ok(media.video.some((s) => s.cts < 0));

    const init = initSegment({ video: videoInfo(media.avcC), audio: audioInfo(media.asc) });
    const frags = fragments(media, 200, { video: true, audio: true });
    assert.ok(frags.length >= 10, `${frags.length} fragments`);
    const file = path.join(dir, 'high.mp4');
    writeFileSync(file, Buffer.concat([init, ...frags]));

    const { streams = [] } = ffprobeJson(file, ['-count_frames', '-show_streams']);
    const v = streams.find((s) => s.codec_type === 'video');
    const a = streams.find((s) => s.codec_type === 'audio');
    assert.ok(v && a, 'both streams detected');
    assert.equal(v.codec_name, 'h264');
    assert.equal(v.profile, 'High');
    assert.equal(v.width, 320);
    assert.equal(v.height, 240);
    assert.equal(v.codec_tag_string, 'avc1');
    assert.equal(Number(v.nb_read_frames), media.video.length);
    assert.equal(a.codec_name, 'aac');
    assert.equal(a.profile, 'LC');
    assert.equal(Number(a.sample_rate), 48000);
    assert.equal(a.channels, 2);
    assert.equal(Number(a.nb_read_frames), media.audio.length);
    assert.equal(ffmpegDecodeErrors(file), '');

    // The demuxer sees exactly our timestamps, sizes and key flags. (ffmpeg's mov demuxer never lets pts < dts: it
    // adds the largest negative composition offset it has seen, "dts_shift", to every pts.)
    const { packets = [] } = ffprobeJson(file, ['-select_streams', 'v', '-show_entries', 'packet=pts,dts,size,flags', '-show_packets']);
    assert.equal(packets.length, media.video.length);
    const dtsShift = -Math.min(...media.video.map((s) => s.cts));
    packets.forEach((p, i) => {
      const s = media.video[i];
      assert.equal(Number(p.dts), s.dts, `dts #${i}`);
      assert.equal(Number(p.pts), s.dts + s.cts + dtsShift, `pts #${i}`);
      assert.equal(Number(p.size), s.data.length, `size #${i}`);
      assert.equal(String(p.flags).startsWith('K'), s.keyframe, `key flag #${i}`);
    });
  });

  test('H.264 Baseline video-only and AAC 44.1k mono audio-only init segments', () => {
    const media = ffmpegFlv(
      'baseline',
      [
        '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25:duration=1',
        '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=44100:duration=1',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-g', '10', '-pix_fmt', 'yuv420p',
        '-c:a', 'aac', '-ac', '1',
      ],
      44100,
    );
    assert.ok(media.avcC && media.asc);
    const vfile = path.join(dir, 'video-only.mp4');
    const vInit = initSegment({ video: videoInfo(media.avcC) });
    writeFileSync(vfile, Buffer.concat([vInit, ...fragments(media, 200, { video: true, audio: false })]));
    const vs = ffprobeJson(vfile, ['-count_frames', '-show_streams']).streams ?? [];
    assert.equal(vs.length, 1);
    assert.equal(vs[0].codec_name, 'h264');
    assert.equal(vs[0].profile, 'Constrained Baseline');
    assert.equal(vs[0].width, 640);
    assert.equal(vs[0].height, 360);
    assert.equal(Number(vs[0].nb_read_frames), media.video.length);
    assert.equal(ffmpegDecodeErrors(vfile), '');

    const afile = path.join(dir, 'audio-only.mp4');
    const aInit = initSegment({ audio: audioInfo(media.asc) });
    writeFileSync(afile, Buffer.concat([aInit, ...fragments(media, 200, { video: false, audio: true })]));
    const as = ffprobeJson(afile, ['-count_frames', '-show_streams']).streams ?? [];
    assert.equal(as.length, 1);
    assert.equal(as[0].codec_name, 'aac');
    assert.equal(Number(as[0].sample_rate), 44100);
    assert.equal(as[0].channels, 1);
    assert.equal(Number(as[0].nb_read_frames), media.audio.length);
    assert.equal(ffmpegDecodeErrors(afile), '');
  });
});

describe('fmp4 structure', () => {
  const avcC = Buffer.from('0142c01effe100196742c01ed9005005bb0110000003001000000303c0f162e48001000468cb8cb2', 'hex');
  const asc = Buffer.from('1190', 'hex'); // AAC-LC, 48000 Hz, stereo

  test('init segment: ftyp brands, track ids, timescales, sample entries, esds', () => {
    const init = initSegment({
      video: { codec: 'h264', avcC, width: 320, height: 240, timescale: 90000 },
      audio: { codec: 'aac', asc, sampleRate: 48000, channels: 2, timescale: 48000 },
    });
    const top = boxes(init);
    assert.deepEqual(top.map((b) => b.type), ['ftyp', 'moov']);
    const ftyp = top[0].body;
    assert.equal(ftyp.toString('latin1', 0, 4), 'iso6');
    const compat = [];
    for (let o = 8; o < ftyp.length; o += 4) compat.push(ftyp.toString('latin1', o, o + 4));
    for (const b of ['iso6', 'cmfc', 'isom', 'mp41', 'avc1']) assert.ok(compat.includes(b), b);
    const moov = top[1];
    assert.deepEqual(boxes(moov.body).map((b) => b.type), ['mvhd', 'trak', 'trak', 'mvex']);
    const [vtrak, atrak] = boxes(moov.body).filter((b) => b.type === 'trak');
    const tkhd = child(vtrak, 'tkhd');
    assert.equal(tkhd.body.readUInt32BE(12), VIDEO_TRACK_ID);
    assert.equal(tkhd.body.readUInt32BE(76), 320 << 16);
    assert.equal(tkhd.body.readUInt32BE(80), 240 << 16);
    assert.equal(child(atrak, 'tkhd').body.readUInt32BE(12), AUDIO_TRACK_ID);
    assert.equal(child(child(vtrak, 'mdia'), 'mdhd').body.readUInt32BE(12), 90000);
    assert.equal(child(child(atrak, 'mdia'), 'mdhd').body.readUInt32BE(12), 48000);
    const vstsd = child(child(child(child(vtrak, 'mdia'), 'minf'), 'stbl'), 'stsd');
    const avc1 = child(vstsd, 'avc1', 8);
    assert.deepEqual(child(avc1, 'avcC', 78).body, avcC);
    const astsd = child(child(child(child(atrak, 'mdia'), 'minf'), 'stbl'), 'stsd');
    const mp4a = child(astsd, 'mp4a', 8);
    assert.equal(mp4a.body.readUInt16BE(16), 2); // channelcount
    assert.equal(mp4a.body.readUInt32BE(24), 48000 * 65536);
    const esds = child(mp4a, 'esds', 28).body;
    // ES_Descriptor(3) > DecoderConfigDescriptor(4, oti 0x40, audio) > DecSpecificInfo(5) = ASC; then SLConfig(6) = 2
    assert.equal(esds[4], 0x03);
    const dcd = esds.indexOf(0x04, 8);
    assert.equal(esds[dcd + 2], 0x40);
    assert.equal(esds[dcd + 3] >> 2, 0x05);
    const dsi = dcd + 2 + 13;
    assert.equal(esds[dsi], 0x05);
    assert.equal(esds[dsi + 1], asc.length);
    assert.deepEqual(esds.subarray(dsi + 2, dsi + 2 + asc.length), asc);
    assert.deepEqual([...esds.subarray(dsi + 2 + asc.length)], [0x06, 0x01, 0x02]);
    const trexes = boxes(child(moov, 'mvex').body);
    assert.deepEqual(trexes.map((t) => t.body.readUInt32BE(4)), [VIDEO_TRACK_ID, AUDIO_TRACK_ID]);
  });

  test('fragment: mfhd seq, tfdt v1 64-bit, trun offsets point at the right bytes, flags, signed cts', () => {
    const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);
    const big = 2 ** 40 + 12345;
    const video: Sample[] = [
      { dts: big, cts: 0, duration: 3000, keyframe: true, data: bytes(100, 1) },
      { dts: big + 3000, cts: -3000, duration: 3000, keyframe: false, data: bytes(7, 2) },
      { dts: big + 6000, cts: 6000, duration: 3000, keyframe: false, data: bytes(33, 3) },
    ];
    const audio: Sample[] = [
      { dts: 5, cts: 0, duration: 1024, keyframe: true, data: bytes(11, 4) },
      { dts: 1029, cts: 0, duration: 1024, keyframe: true, data: bytes(12, 5) },
    ];
    const frag = mediaFragment(77, [
      { trackId: 1, baseDecodeTime: big, samples: video },
      { trackId: 3, baseDecodeTime: 0, samples: [] }, // empty tracks are left out
      { trackId: 2, baseDecodeTime: 5, samples: audio },
    ]);
    const [moof, mdat] = boxes(frag);
    assert.equal(moof.type, 'moof');
    assert.equal(mdat.type, 'mdat');
    assert.equal(mdat.size, 8 + 100 + 7 + 33 + 11 + 12);
    assert.equal(moof.size + mdat.size, frag.length);
    const kids = boxes(moof.body);
    assert.deepEqual(kids.map((b) => b.type), ['mfhd', 'traf', 'traf']);
    assert.equal(kids[0].body.readUInt32BE(4), 77);
    const check = (traf: Box, trackId: number, base: number, samples: Sample[], withCto: boolean) => {
      const tfhd = child(traf, 'tfhd').body;
      assert.equal(tfhd.readUInt32BE(0), 0x020000);
      assert.equal(tfhd.readUInt32BE(4), trackId);
      const tfdt = child(traf, 'tfdt').body;
      assert.equal(tfdt[0], 1);
      assert.equal(Number(tfdt.readBigUInt64BE(4)), base);
      const trun = child(traf, 'trun').body;
      assert.equal(trun[0], withCto ? 1 : 0);
      assert.equal(trun.readUIntBE(1, 3), 0x000701 | (withCto ? 0x800 : 0));
      assert.equal(trun.readUInt32BE(4), samples.length);
      let dataOff = trun.readInt32BE(8); // relative to moof start (default-base-is-moof), moof is at 0
      let o = 12;
      for (const s of samples) {
        assert.equal(trun.readUInt32BE(o), s.duration);
        assert.equal(trun.readUInt32BE(o + 4), s.data.length);
        assert.equal(trun.readUInt32BE(o + 8), s.keyframe ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC);
        if (withCto) assert.equal(trun.readInt32BE(o + 12), s.cts);
        o += withCto ? 16 : 12;
        assert.deepEqual(frag.subarray(dataOff, dataOff + s.data.length), s.data);
        dataOff += s.data.length;
      }
      assert.equal(o, trun.length);
    };
    check(kids[1], 1, big, video, true);
    check(kids[2], 2, 5, audio, false);
  });

  test('fragment: rejects values that do not fit', () => {
    const s: Sample = { dts: 0, cts: 0, duration: 1, keyframe: true, data: Buffer.alloc(1) };
    assert.throws(() => mediaFragment(1, []), /no samples/);
    assert.throws(() => mediaFragment(1, [{ trackId: 1, baseDecodeTime: 0, samples: [] }]), /no samples/);
    assert.throws(() => mediaFragment(-1, [{ trackId: 1, baseDecodeTime: 0, samples: [s] }]), RangeError);
    assert.throws(() => mediaFragment(1, [{ trackId: 1, baseDecodeTime: -1, samples: [s] }]), /baseDecodeTime/);
    assert.throws(() => mediaFragment(1, [{ trackId: 1, baseDecodeTime: 0.5, samples: [s] }]), /baseDecodeTime/);
    assert.throws(() => mediaFragment(1, [{ trackId: 0, baseDecodeTime: 0, samples: [s] }]), /trackId/);
    assert.throws(() => mediaFragment(1, [{ trackId: 1, baseDecodeTime: 0, samples: [{ ...s, duration: -1 }] }]), /duration/);
    assert.throws(() => mediaFragment(1, [{ trackId: 1, baseDecodeTime: 0, samples: [{ ...s, cts: 2 ** 31 }] }]), /cts/);
    assert.throws(() => initSegment({}), /no tracks/);
    const badAvcC = Buffer.from([1, 2, 3]);
    assert.throws(() => initSegment({ video: { codec: 'h264', avcC: badAvcC, width: 1, height: 1, timescale: 90000 } }), /avcC/);
    const badAsc = Buffer.from([0xff]);
    assert.throws(() => initSegment({ audio: { codec: 'aac', asc: badAsc, sampleRate: 8000, channels: 2, timescale: 8000 } }), /ASC/);
  });

  test('fragment building is cheap', (t) => {
    // A 200 ms part of a 30 fps, 3 Mbit/s stream + 48 kHz AAC: 6 video samples of ~12.5 kB, 10 audio frames of ~400 B.
    const video: Sample[] = Array.from({ length: 6 }, (_, i) => {
      return { dts: i * 3000, cts: (i % 3) * 3000, duration: 3000, keyframe: i === 0, data: Buffer.alloc(12500, i) };
    });
    const audio: Sample[] = Array.from({ length: 10 }, (_, i) => {
      return { dts: i * 1024, cts: 0, duration: 1024, keyframe: true, data: Buffer.alloc(400, i) };
    });
    const parts = [
      { trackId: 1, baseDecodeTime: 0, samples: video },
      { trackId: 2, baseDecodeTime: 0, samples: audio },
    ];
    for (let i = 0; i < 3000; i++) mediaFragment(i + 1, parts); // warm up (JIT)
    const n = 5000;
    const t0 = process.hrtime.bigint();
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += mediaFragment(i + 1, parts).length;
    const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
    t.diagnostic(`mediaFragment: ${us.toFixed(1)} µs per ${Math.round(bytes / n / 1024)} kB part`);
    assert.ok(us < 2000, `${us} µs per fragment`);
  });
});
