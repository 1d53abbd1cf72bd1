import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAsc, silentAacFrame } from './aac';
import { BitstreamError } from './h264';

let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'aac-test-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Encode a short sine with ffmpeg's AAC encoder into FLV and return the AudioSpecificConfig from its sequence header. */
function realAsc(sampleRate: number, channels: number): Buffer {
  const file = path.join(dir, `sine-${sampleRate}-${channels}.flv`);
  execFileSync(
    'ffmpeg',
    [
      ...['-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${sampleRate}:duration=0.2`],
      ...['-c:a', 'aac', '-ac', String(channels), '-f', 'flv', file],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const flv = readFileSync(file);
  for (let off = flv.readUInt32BE(5) + 4; off + 11 <= flv.length; ) {
    const size = flv.readUIntBE(off + 1, 3);
    const body = flv.subarray(off + 11, off + 11 + size);
    if ((flv[off] & 0x1f) === 8 && body[0] >> 4 === 10 && body[1] === 0) return Buffer.from(body.subarray(2));
    off += 11 + size + 4;
  }
  throw new Error('no AAC sequence header');
}

/** Pack [value, bits] pairs MSB first. */
function bits(...fields: Array<[number, number]>): Buffer {
  const total = fields.reduce((n, [, b]) => n + b, 0);
  const out = Buffer.alloc(Math.ceil(total / 8));
  let pos = 0;
  for (const [v, n] of fields) {
    for (let i = n - 1; i >= 0; i--, pos++) if (Math.floor(v / 2 ** i) % 2) out[pos >> 3] |= 0x80 >> (pos & 7);
  }
  return out;
}

describe('parseAsc on real ffmpeg AAC', () => {
  for (const [rate, ch] of [
    [48000, 2],
    [44100, 1],
    [22050, 2],
    [8000, 1],
    [96000, 6],
  ] as const) {
    test(`${rate} Hz, ${ch} ch`, () => {
      const a = parseAsc(realAsc(rate, ch));
      assert.equal(a.objectType, 2);
      assert.equal(a.sampleRate, rate);
      assert.equal(a.outputSampleRate, rate);
      assert.equal(a.channels, ch);
      assert.equal(a.codecString, 'mp4a.40.2');
    });
  }
});

describe('parseAsc escapes and errors', () => {
  test('well-known 2-byte configs', () => {
    assert.deepEqual(parseAsc(Buffer.from('1210', 'hex')), {
      objectType: 2,
      sampleRate: 44100,
      outputSampleRate: 44100,
      channels: 2,
      codecString: 'mp4a.40.2',
    });
    assert.equal(parseAsc(Buffer.from('1190', 'hex')).sampleRate, 48000);
    assert.equal(parseAsc(Buffer.from('11b8', 'hex')).channels, 8); // channelConfiguration 7 -> 7.1
  });

  test('samplingFrequencyIndex 15: explicit 24-bit frequency', () => {
    const a = parseAsc(bits([2, 5], [15, 4], [50000, 24], [2, 4], [0, 3]));
    assert.equal(a.sampleRate, 50000);
    assert.equal(a.channels, 2);
  });

  test('audioObjectType 31: escape to 32 + 6 bits', () => {
    const a = parseAsc(bits([31, 5], [42 - 32, 6], [3, 4], [2, 4], [0, 8]));
    assert.equal(a.objectType, 42);
    assert.equal(a.sampleRate, 48000);
    assert.equal(a.codecString, 'mp4a.40.42');
  });

  test('explicit SBR (HE-AAC): core rate, extension rate', () => {
    const a = parseAsc(bits([5, 5], [6, 4], [2, 4], [3, 4], [2, 5], [0, 2]));
    assert.equal(a.objectType, 5);
    assert.equal(a.sampleRate, 24000);
    assert.equal(a.outputSampleRate, 48000);
    assert.equal(a.codecString, 'mp4a.40.5');
  });

  test('explicit SBR with both escapes', () => {
    const a = parseAsc(bits([29, 5], [15, 4], [22000, 24], [1, 4], [15, 4], [44000, 24], [2, 5], [0, 4]));
    assert.equal(a.objectType, 29);
    assert.equal(a.sampleRate, 22000);
    assert.equal(a.outputSampleRate, 44000);
    assert.equal(a.channels, 1);
  });

  test('malformed configs throw', () => {
    assert.throws(() => parseAsc(Buffer.alloc(0)), BitstreamError);
    assert.throws(() => parseAsc(Buffer.from([0x12])), /too short/);
    assert.throws(() => parseAsc(bits([2, 5], [13, 4], [2, 4], [0, 3])), /reserved samplingFrequencyIndex 13/);
    assert.throws(() => parseAsc(bits([2, 5], [3, 4], [0, 4], [0, 3])), /channelConfiguration 0/);
    assert.throws(() => parseAsc(bits([2, 5], [3, 4], [8, 4], [0, 3])), /reserved channelConfiguration 8/);
    assert.throws(() => parseAsc(bits([0, 5], [3, 4], [2, 4], [0, 3])), /audioObjectType 0/);
    assert.throws(() => parseAsc(bits([2, 5], [15, 4], [1, 7])), /truncated/);
    assert.throws(() => parseAsc(bits([5, 5], [6, 4], [2, 4], [3, 3])), /truncated/);
  });
});

/** An ADTS header (ISO/IEC 14496-3 1.A.2) for one AAC-LC frame of `len` payload bytes. */
function adts(len: number, rateIndex: number, channels: number): Buffer {
  const full = len + 7;
  return Buffer.from([
    0xff,
    0xf1, // sync, MPEG-4, layer 0, no CRC
    (1 << 6) | (rateIndex << 2) | (channels >> 2), // profile LC (2 - 1)
    ((channels & 3) << 6) | (full >> 11),
    (full >> 3) & 0xff,
    ((full & 7) << 5) | 0x1f,
    0xfc,
  ]);
}

for (const channels of [1, 2]) {
  test(`silentAacFrame(${channels}) decodes with ffmpeg to exact silence, 1024 samples a frame`, () => {
    const frame = silentAacFrame(channels)!;
    assert.ok(frame.length <= 8, `${frame.length} bytes`);
    const frames = 20;
    const stream = Buffer.concat(Array.from({ length: frames }, () => Buffer.concat([adts(frame.length, 3, channels), frame])));
    const pcm = execFileSync('ffmpeg', ['-v', 'error', '-f', 'aac', '-i', 'pipe:0', '-f', 's16le', '-acodec', 'pcm_s16le', 'pipe:1'], { input: stream, maxBuffer: 1 << 24 });
    assert.equal(pcm.length, frames * 1024 * channels * 2, 'every frame decoded');
    assert.ok(pcm.every((b) => b === 0), 'all zero');
  });
}

test('silentAacFrame has no frame for other layouts', () => {
  assert.equal(silentAacFrame(6), null);
});
