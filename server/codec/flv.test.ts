import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MediaFormatError, isEndOfSequence, parseAudioTag, parseVideoTag } from './flv';

test('AVC keyframe NALU with a composition offset', () => {
  const body = Buffer.from([0x17, 0x01, 0x00, 0x00, 0x28, 0, 0, 0, 2, 0x65, 0x88]);
  const p = parseVideoTag(body, 1000, 5);
  assert.equal(p.codec, 'h264');
  assert.equal(p.keyframe, true);
  assert.equal(p.config, false);
  assert.equal(p.cts, 40);
  assert.deepEqual([...p.data], [0, 0, 0, 2, 0x65, 0x88]);
  assert.equal(p.flv, body);
});

test('AVC negative composition offset and inter frame', () => {
  const p = parseVideoTag(Buffer.from([0x27, 0x01, 0xff, 0xff, 0xd8, 1]), 0, 0);
  assert.equal(p.keyframe, false);
  assert.equal(p.cts, -40);
});

test('AVC sequence header is config and keyframe', () => {
  const p = parseVideoTag(Buffer.from([0x17, 0x00, 0, 0, 0, 1, 0x42, 0xc0, 0x1e]), 0, 0);
  assert.equal(p.config, true);
  assert.deepEqual([...p.data], [1, 0x42, 0xc0, 0x1e]);
});

test('end of sequence is recognised', () => {
  assert.equal(isEndOfSequence(parseVideoTag(Buffer.from([0x17, 0x02, 0, 0, 0]), 0, 0)), true);
});

test('short AVC bodies are rejected', () => {
  assert.throws(() => parseVideoTag(Buffer.from([0x17, 0x01]), 0, 0), MediaFormatError);
  assert.throws(() => parseVideoTag(Buffer.alloc(0), 0, 0), MediaFormatError);
});

test('non-AVC video is relayed as other', () => {
  const p = parseVideoTag(Buffer.from([0x12, 1, 2, 3]), 0, 0); // Sorenson H.263 keyframe
  assert.equal(p.codec, 'other');
  assert.equal(p.keyframe, true);
});

test('AAC config and raw frames', () => {
  const cfg = parseAudioTag(Buffer.from([0xaf, 0x00, 0x12, 0x10]), 0, 0);
  assert.equal(cfg.codec, 'aac');
  assert.equal(cfg.config, true);
  assert.deepEqual([...cfg.data], [0x12, 0x10]);
  const raw = parseAudioTag(Buffer.from([0xaf, 0x01, 0x21, 0x00]), 23, 0);
  assert.equal(raw.config, false);
  assert.equal(raw.dts, 23);
  assert.throws(() => parseAudioTag(Buffer.from([0xaf]), 0, 0), MediaFormatError);
});
