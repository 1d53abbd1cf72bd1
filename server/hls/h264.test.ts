import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
function encode(name: string, size: string, x264: string[], preset = 'ultrafast'): Encoded {
  const file = path.join(dir, `${name}.h264`);
  execFileSync(
    'ffmpeg',
    [
      ...['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=25:duration=0.2`],
      ...['-c:v', 'libx264', '-preset', preset, ...x264, '-f', 'h264', file],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const nals = annexBNals(readFileSync(file));
  const sps = nals.find((n) => (n[0] & 0x1f) === 7);
  const pps = nals.find((n) => (n[0] & 0x1f) === 8);
  assert.ok(sps && pps, 'SPS and PPS in the stream');
  return { sps, pps, probe: probe(file) };
}

function probe(file: string): Encoded['probe'] {
  const probeArgs = ['-v', 'error', '-of', 'json', '-show_entries', 'stream=width,height,profile,level', '-show_streams'];
  const s = JSON.parse(execFileSync('ffprobe', [...probeArgs, file], { encoding: 'utf8' })).streams[0];
  return { width: s.width, height: s.height, profile: s.profile, level: s.level };
}

const ueBits = (v: number): string => {
  const s = (v + 1).toString(2);
  return '0'.repeat(s.length - 1) + s;
};
const seBits = (v: number): string => ueBits(v > 0 ? 2 * v - 1 : -2 * v);

/** Insert emulation_prevention_three_byte where the RBSP has 00 00 followed by 00..03. */
function escapeRbsp(rbsp: Uint8Array): Buffer {
  const out: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Buffer.from(out);
}

/** Rewrite a High-profile SPS (which has seq_scaling_matrix_present_flag = 0) to carry scaling lists. */
function withScalingLists(sps: Buffer): Buffer {
  const rbsp = unescapeRbsp(sps.subarray(1));
  const r = new BitReader(rbsp);
  r.u(24); // profile, constraints, level
  r.ue(); // seq_parameter_set_id
  const chroma = r.ue();
  if (chroma === 3) r.u(1);
  r.ue(); // bit_depth_luma_minus8
  r.ue(); // bit_depth_chroma_minus8
  r.u(1); // qpprime_y_zero_transform_bypass_flag
  const pos = r.position;
  const bits = [...rbsp].map((b) => b.toString(2).padStart(8, '0')).join('');
  assert.equal(bits[pos], '0', 'seq_scaling_matrix_present_flag already set');
  const stopBit = bits.lastIndexOf('1');
  let lists = '1';
  for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) {
    const size = i < 6 ? 16 : 64;
    if (i === 1) lists += '0'; // not present: fall-back rule
    else if (i === 2 || i === 6) lists += '1' + seBits(-8); // nextScale 0 at j = 0: useDefaultScalingMatrixFlag
    else lists += '1' + seBits(8) + seBits(0).repeat(size - 1); // explicit, all 16 (flat)
  }
  let out = bits.slice(0, pos) + lists + bits.slice(pos + 1, stopBit) + '1';
  while (out.length % 8) out += '0';
  const bytes = Buffer.alloc(out.length / 8);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(out.slice(i * 8, i * 8 + 8), 2);
  return Buffer.concat([sps.subarray(0, 1), escapeRbsp(bytes)]);
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
    const e = encode('high720', '1280x720', ['-profile:v', 'high', '-pix_fmt', 'yuv420p'], 'veryfast');
    checkAgainstFfprobe(e, { width: 1280, height: 720, codec: /^avc1\.6400/ });
  });

  test('1920x1080 high: coded 1088, cropped to 1080', () => {
    const e = encode('high1080', '1920x1080', ['-profile:v', 'high', '-pix_fmt', 'yuv420p', '-level', '4.0'], 'veryfast');
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

  test('High 4:2:2 at 642x362 (chroma_format_idc 2: crop unit 2 across, 1 down)', () => {
    const e = encode('yuv422', '642x362', ['-pix_fmt', 'yuv422p']);
    const info = checkAgainstFfprobe(e, { width: 642, height: 362, codec: /^avc1\.7A/ });
    assert.equal(info.chromaFormatIdc, 2);
  });

  // x264 sends custom quant matrices in the PPS, never the SPS. So splice seq_scaling_matrix_present_flag = 1 and a
  // set of scaling lists (explicit flat-16, "use default" via a delta to 0, absent/fall-back) into real SPSes, put
  // them back into the stream, and check that ffmpeg still decodes it and agrees with us on the size.
  for (const [name, size, args, preset] of [
    ['scaling-420', '1280x720', ['-profile:v', 'high', '-pix_fmt', 'yuv420p'], 'veryfast'],
    ['scaling-444', '321x241', ['-pix_fmt', 'yuv444p'], 'ultrafast'],
  ] as const) {
    test(`SPS with scaling lists (${name}) parses and ffmpeg agrees`, () => {
      const e = encode(name, size, [...args], preset);
      const spliced = withScalingLists(e.sps);
      assert.ok(spliced.length > e.sps.length + 20, 'lists were added');
      const file = path.join(dir, `${name}-spliced.h264`);
      const start = Buffer.from([0, 0, 0, 1]);
      const nals = annexBNals(readFileSync(path.join(dir, `${name}.h264`)));
      writeFileSync(file, Buffer.concat(nals.flatMap((n) => [start, (n[0] & 0x1f) === 7 ? spliced : n])));
      const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      const before = parseSps(e.sps);
      const after = checkAgainstFfprobe({ ...e, sps: spliced, probe: probe(file) }, { width: before.width, height: before.height });
      assert.deepEqual(after, before);
    });
  }

  test('real avcC built from the stream parses back; SPS in it gives the same info', () => {
    const e = encode('avcc', '1280x720', ['-profile:v', 'high', '-pix_fmt', 'yuv420p'], 'veryfast');
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
  // Real libx264 640x360 baseline SPS (coded 368 lines, cropped; has emulation prevention bytes) and PPS.
  const sps = Buffer.from('6742c01eda0280bfe5c044000003000400000300c83c58ba80', 'hex');
  const pps = Buffer.from('68ce0fc8', 'hex');
  const avcC = Buffer.concat([Buffer.from([1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, sps.length]), sps, Buffer.from([1, 0, pps.length]), pps]);

  test('the synthetic fixtures are valid', () => {
    const c = parseAvcC(avcC);
    assert.equal(c.nalLengthSize, 4);
    const info = parseSps(c.sps[0]);
    assert.equal(info.codecString, 'avc1.42C01E');
    assert.equal(info.width, 640);
    assert.equal(info.height, 360);
    assert.equal(info.frameMbsOnly, true);
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

  test('a truncated SPS throws or parses exactly as the whole one (never reads past the end)', () => {
    // Fields after frame cropping (VUI) are not read, so long enough prefixes parse; shorter ones must throw.
    const full = parseSps(sps);
    let threw = 0;
    for (let n = 0; n < sps.length; n++) {
      let info;
      try {
        info = parseSps(sps.subarray(0, n));
      } catch (err) {
        assert.ok(err instanceof BitstreamError, `prefix ${n}: ${String(err)}`);
        threw++;
        continue;
      }
      assert.deepEqual(info, full, `prefix ${n}`);
    }
    assert.ok(threw >= 8, `${threw} prefixes threw`);
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
