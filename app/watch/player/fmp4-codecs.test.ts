import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { MediaPacket } from '../../../server/codec/flv';
import { FragmentEncoder } from '../../../server/realtime/encoder';
import { makeTestPackets } from '../../../server/testing/flv-file';
import { initCodecs, isInitSegment } from './fmp4-codecs';

let packets: MediaPacket[];
before(async () => {
  packets = await makeTestPackets({ seconds: 1, fps: 25, gop: 25 });
});

const configs = () => ({
  video: packets.find((p) => p.config && p.kind === 'video')!,
  audio: packets.find((p) => p.config && p.kind === 'audio')!,
});

test('the codec string of the server\'s init segment (ffmpeg H.264 + AAC-LC): avc1.PPCCLL from the avcC, mp4a.40.2', () => {
  const { video, audio } = configs();
  const t = new FragmentEncoder().tracks(video, audio)!;
  const [p, c, l] = [video.data[1], video.data[2], video.data[3]].map((n) => n.toString(16).padStart(2, '0'));
  assert.equal(initCodecs(t.init), `avc1.${p}${c}${l},mp4a.40.2`);
  assert.ok(isInitSegment(t.init));
  // Only one track: only its codec.
  assert.equal(initCodecs(new FragmentEncoder().tracks(null, audio)!.init), 'mp4a.40.2');
  assert.equal(initCodecs(new FragmentEncoder().tracks(video, null)!.init), `avc1.${p}${c}${l}`);
});

test('an init segment with a GOP after it in the same message still parses; a media fragment is not an init', () => {
  const { video, audio } = configs();
  const enc = new FragmentEncoder();
  const t = enc.tracks(video, audio)!;
  const key = packets.find((x) => x.kind === 'video' && !x.config && x.keyframe)!;
  const frag = enc.fragment(key, t)!;
  const both = Buffer.concat([t.init, frag]);
  assert.equal(initCodecs(both), initCodecs(t.init));
  assert.equal(isInitSegment(frag), false);
  assert.equal(initCodecs(frag), null);
});

test('malformed or truncated bytes: null, never a throw', () => {
  const { video, audio } = configs();
  const init = new FragmentEncoder().tracks(video, audio)!.init;
  for (let n = 0; n < init.length; n += 7) assert.doesNotThrow(() => initCodecs(init.subarray(0, n)));
  assert.equal(initCodecs(init.subarray(0, 40)), null);
  const bad = Buffer.from(init);
  bad.writeUInt32BE(0xffffffff, 0); // ftyp claims more than there is
  assert.equal(initCodecs(bad), null);
  assert.equal(initCodecs(new Uint8Array(0)), null);
  assert.equal(isInitSegment(new Uint8Array(3)), false);
  for (let i = 0; i < 200; i++) {
    const junk = Buffer.from(init);
    for (let k = 0; k < 10; k++) junk[Math.floor(Math.random() * junk.length)] = Math.floor(Math.random() * 256);
    assert.doesNotThrow(() => initCodecs(junk));
  }
});
