import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { avcCodecString, BitReader, BitstreamError, parseAvcC, parseSps, unescapeRbsp } from './h264';

let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'h264-test-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** NAL units of an Annex B byte stream. */
function annexBNals(buf: Buffer): Buffer[] {
  const starts: number[] = [];
  for (let i = 0; i + 2 < buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      starts.push(i + 3);
      i += 2;
    }
  }
  return starts.map((s, k) => {
    let end = k + 1 < starts.length ? starts[k + 1] - 3 : buf.length;
    while (end > s && buf[end - 1] === 0) end--; // trailing zero of a 4-byte start code
    return buf.subarray(s, end);
  });
}

interface Encoded {
  sps: Buffer;
  pps: Buffer;
  probe: { width: number; height: number; profile: string; level: number };
}

/** Encode one second of testsrc with libx264 to raw H.264 and return its SPS, PPS and what ffprobe says. */
function encode(name: string, size: string, x264: string[]): Encoded {
  const file = path.join(dir, `${name}.h264`);
  execFileSync(
    'ffmpeg',
    ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=25:duration=0.2`, '-c:v', 'libx264', '-preset', 'ultrafast', ...x264, '-f', 'h264', file],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const nals = annexBNals(readFileSync(file));
  const sps = nals.find((n) => (n[0] & 0x1f) === 7);
  const pps = nals.find((n) => (n[0] & 0x1f) === 8);
  assert.ok(sps && pps, 'SPS and PPS in the stream');
  const out = execFileSync('ffprobe', ['-v', 'error', '-of', 'json', '-show_entries', 'stream=width,height,profile,level', '-show_streams', file], { encoding: 'utf8' });
  const s = JSON.parse(out).streams[0];
  return { sps, pps, probe: { width: s.width, height: s.height, profile: s.profile, level: s.level } };
}

const PROFILE_IDC: Record<string, number> = {
  'Constrained Baseline': 66,
  Baseline: 66,
  Main: 77,
  High: 100,
  'High 10': 110,
  'High 4:2:2': 122,
  'High 4:4:4 Predictive': 244,
};

function checkAgainstFfprobe(e: Encoded, expected: { width: number; height: number; codec?: RegExp }) {
  const info = parseSps(e.sps);
  assert.equal(info.width, e.probe.width, 'width vs ffprobe');
  assert.equal(info.height, e.probe.height, 'height vs ffprobe');
  assert.equal(info.width, expected.width);
  assert.equal(info.height, expected.height);
  assert.equal(info.profileIdc, PROFILE_IDC[e.probe.profile], `profile ${e.probe.profile}`);
  assert.equal(info.levelIdc, e.probe.level);
  assert.equal(info.codecString, `avc1.${e.sps.subarray(1, 4).toString('hex').toUpperCase()}`);
  assert.match(info.codecString, /^avc1\.[0-9A-F]{6}$/);
  if (expected.codec) assert.match(info.codecString, expected.codec);
  return info;
}

describe('parseSps on real libx264 output', () => {
  test('320x240 baseline', () => {
    const e = encode('baseline', '320x240', ['-profile:v', 'baseline', '-pix_fmt', 'yuv420p']);
    const info = checkAgainstFfprobe(e, { width: 320, height: 240, codec: /^avc1\.42C0/ });
    assert.equal(info.chromaFormatIdc, 1);
  });

  test('1280x720 high', () => {
    const e = encode('high720', '1280x720', ['-profile:v', 'high', '-pix_fmt', 'yuv420p']);
    checkAgainstFfprobe(e, { width: 1280, height: 720, codec: /^avc1\.6400/ });
  });

  test('1920x1080 high: coded 1088, cropped to 1080', () => {
    const e = encode('high1080', '1920x1080', ['-profile:v', 'high', '-pix_fmt', 'yuv420p', '-level', '4.0']);
    const info = checkAgainstFfprobe(e, { width: 1920, height: 1080 });
    assert.equal(info.codecString, 'avc1.640028');
  });

  test('720x576 interlaced (frame_mbs_only_flag = 0)', () => {
    const e = encode('interlaced', '720x576', ['-profile:v', 'high', '-pix_fmt', 'yuv420p', '-x264-params', 'interlaced=1']);
    const info = checkAgainstFfprobe(e, { width: 720, height: 576 });
    assert.equal(info.frameMbsOnly, false);
  });

  test('interlaced 1920x1080: crop unit is doubled vertically', () => {
    const e = encode('interlaced1080', '1920x1080', ['-profile:v', 'high', '-pix_fmt', 'yuv420p', '-x264-params', 'interlaced=1']);
    const info = checkAgainstFfprobe(e, { width: 1920, height: 1080 });
    assert.equal(info.frameMbsOnly, false);
  });

  test('High 4:4:4 with odd size 321x241 (chroma_format_idc 3, crop unit 1)', () => {
    const e = encode('yuv444', '321x241', ['-pix_fmt', 'yuv444p']);
    const info = checkAgainstFfprobe(e, { width: 321, height: 241, codec: /^avc1\.F4/ });
    assert.equal(info.chromaFormatIdc, 3);
  });

  test('High 4:2:2 with scaling matrices (cqm=jvt) at 642x362', () => {
    const e = encode('yuv422cqm', '642x362', ['-pix_fmt', 'yuv422p', '-x264-params', 'cqm=jvt:8x8dct=1']);
    const info = checkAgainstFfprobe(e, { width: 642, height: 362, codec: /^avc1\.7A/ });
    assert.equal(info.chromaFormatIdc, 2);
  });

  test('High with custom scaling matrices at 4:2:0 (cqm=jvt)', () => {
    const e = encode('cqm420', '1280x720', ['-profile:v', 'high', '-pix_fmt', 'yuv420p', '-x264-params', 'cqm=jvt:8x8dct=1']);
    checkAgainstFfprobe(e, { width: 1280, height: 720 });
  });

  test('real avcC built from the stream parses back; SPS in it gives the same info', () => {
    const e = encode('avcc', '1280x720', ['-profile:v', 'high', '-pix_fmt', 'yuv420p']);
    const avcC = Buffer.concat([
      Buffer.from([1, e.sps[1], e.sps[2], e.sps[3], 0xfc | 3, 0xe0 | 1]),
      Buffer.from([e.sps.length >> 8, e.sps.length & 0xff]),
      e.sps,
      Buffer.from([1, e.pps.length >> 8, e.pps.length & 0xff]),
      e.pps,
      Buffer.from([0xfc | 1, 0xf8 | 0, 0xf8 | 0, 0]), // High profile extension: chroma 4:2:0, 8 bit, no SPS ext
    ]);
    const c = parseAvcC(avcC);
    assert.equal(c.profile, 100);
    assert.equal(c.compat, e.sps[2]);
    assert.equal(c.level, e.sps[3]);
    assert.equal(c.nalLengthSize, 4);
    assert.deepEqual(c.sps, [e.sps]);
    assert.deepEqual(c.pps, [e.pps]);
    assert.equal(parseSps(c.sps[0]).codecString, avcCodecString(c.profile, c.compat, c.level));
  });
});

describe('h264 malformed input', () => {
  const sps = Buffer.from('6742c01ed9005005bb0110000003001000000303c0f162e480', 'hex');
  const pps = Buffer.from('68cb8cb2', 'hex');
  const avcC = Buffer.concat([Buffer.from([1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, sps.length]), sps, Buffer.from([1, 0, pps.length]), pps]);

  test('the synthetic fixtures are valid', () => {
    const c = parseAvcC(avcC);
    assert.equal(c.nalLengthSize, 4);
    const info = parseSps(c.sps[0]);
    assert.equal(info.codecString, 'avc1.42C01E');
    assert.equal(info.width, 640);
    assert.equal(info.height, 360);
  });

  test('every truncation of an avcC throws', () => {
    for (let n = 0; n < avcC.length; n++) assert.throws(() => parseAvcC(avcC.subarray(0, n)), BitstreamError, `prefix ${n}`);
  });

  test('bad avcC fields throw', () => {
    const bad = (patch: (b: Buffer) => void, re: RegExp) => {
      const b = Buffer.from(avcC);
      patch(b);
      assert.throws(() => parseAvcC(b), re);
    };
    bad((b) => (b[0] = 0), /configurationVersion/);
    bad((b) => (b[4] = 0xfe), /lengthSizeMinusOne/);
    bad((b) => (b[5] = 0xe0), /no SPS/);
    bad((b) => (b[8] = 0x68), /NAL type 8, expected 7/);
    bad((b) => b.writeUInt16BE(0xffff, 6), /runs past the end/);
  });

  test('every truncation of an SPS throws (never reads past the end)', () => {
    // The last byte is VUI/rbsp trailing data only, so stop before the fields we need run out.
    for (let n = 0; n < 10; n++) assert.throws(() => parseSps(sps.subarray(0, n)), BitstreamError, `prefix ${n}`);
    assert.throws(() => parseSps(pps), /NAL type 8/);
    assert.throws(() => parseSps(Buffer.from([0x67, 0x64, 0, 0x1e, 0x00, 0x00, 0x00, 0x00])), /Exp-Golomb|truncated/);
  });

  test('emulation prevention bytes are removed', () => {
    assert.deepEqual([...unescapeRbsp(Buffer.from([0, 0, 3, 1, 0, 0, 3, 0, 0, 3]))], [0, 0, 1, 0, 0, 0, 0]);
    assert.deepEqual([...unescapeRbsp(Buffer.from([1, 0, 3, 0, 0, 2]))], [1, 0, 3, 0, 0, 2]);
    // 00 00 03 then 00 00 03: both removed; zeros count restarts after each removal.
    assert.deepEqual([...unescapeRbsp(Buffer.from([0, 0, 3, 0, 0, 3, 3]))], [0, 0, 0, 0, 3]);
  });

  test('Exp-Golomb decoding', () => {
    // ue: 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3, 00111 -> 6; then se: 010 -> +1, 011 -> -1, 00100 -> +2
    const bits = '1' + '010' + '011' + '00100' + '00111' + '010' + '011' + '00100';
    const bytes = Buffer.alloc(Math.ceil(bits.length / 8));
    for (let i = 0; i < bits.length; i++) if (bits[i] === '1') bytes[i >> 3] |= 0x80 >> (i & 7);
    const r = new BitReader(bytes);
    assert.deepEqual([r.ue(), r.ue(), r.ue(), r.ue(), r.ue()], [0, 1, 2, 3, 6]);
    assert.deepEqual([r.se(), r.se(), r.se()], [1, -1, 2]);
    assert.throws(() => new BitReader(Buffer.from([0, 0, 0, 0, 0])).ue(), BitstreamError);
    assert.throws(() => new BitReader(Buffer.from([0xff])).u(9), /truncated/);
    assert.equal(new BitReader(Buffer.from([0xff, 0xff, 0xff, 0xff])).u(32), 0xffffffff);
  });
});
