import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closeReason, mediaFormat, parseClientMessage, startsMediaFile } from './protocol';

test('start messages are validated strictly', () => {
  const ok = { type: 'start', v: 1, streamId: 'abc', key: 'abc_x', mimeType: 'video/webm;codecs=h264,opus', captureStart: 1.7e12 };
  assert.equal(parseClientMessage(JSON.stringify(ok)).type, 'start');
  assert.throws(() => parseClientMessage('{'), /not valid JSON/);
  assert.throws(() => parseClientMessage(JSON.stringify({ ...ok, extra: 1 })), /bad message/);
  assert.throws(() => parseClientMessage(JSON.stringify({ ...ok, streamId: '../x' })), /bad streamId/);
  assert.throws(() => parseClientMessage(JSON.stringify({ ...ok, v: 2 })), /bad v/);
  assert.throws(() => parseClientMessage(JSON.stringify({ type: 'hello' })), /bad type/);
});

test('MIME types choose remux or transcode', () => {
  assert.deepEqual(mediaFormat('video/webm;codecs=h264,opus'), { input: 'webm', transcode: false });
  assert.deepEqual(mediaFormat('video/webm;codecs="avc1.42E01F,opus"'), { input: 'webm', transcode: false });
  assert.deepEqual(mediaFormat('video/webm;codecs=vp8,opus'), { input: 'webm', transcode: true });
  assert.deepEqual(mediaFormat('video/webm'), { input: 'webm', transcode: true });
  assert.deepEqual(mediaFormat('video/mp4;codecs=avc1.42E01F,mp4a.40.2'), { input: 'mp4', transcode: false });
  assert.deepEqual(mediaFormat('video/mp4'), { input: 'mp4', transcode: false });
  assert.equal(mediaFormat('video/ogg'), null);
  assert.equal(mediaFormat('text/html'), null);
});

test('first chunks are recognised by their magic', () => {
  assert.equal(startsMediaFile(Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 1]), 'webm'), true);
  assert.equal(startsMediaFile(Buffer.from('hello world'), 'webm'), false);
  assert.equal(startsMediaFile(Buffer.from('\0\0\0\x18ftypmp42'), 'mp4'), true);
  assert.equal(startsMediaFile(Buffer.from('\0\0\0\x18moovmp42'), 'mp4'), false);
});

test('close reasons fit in 123 bytes', () => {
  assert.ok(Buffer.byteLength(closeReason('é'.repeat(200))) <= 123);
  assert.equal(closeReason('a\n b'), 'a b');
});
