import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modeFromQuery } from './live';
import { parseClock, realtimeUrl } from './realtime-player';

test('the clock message: numbers only; anything else (garbage, other keys, huge) is ignored', () => {
  assert.deepEqual(parseClock('{"clock":{"mediaMs":1234,"wallMs":1733270400123}}'), { mediaMs: 1234, wallMs: 1733270400123 });
  assert.deepEqual(parseClock('{"clock":{"mediaMs":0,"wallMs":5,"x":1},"other":true}'), { mediaMs: 0, wallMs: 5 });
  for (const bad of ['', 'null', '[]', '{"clock":null}', '{"clock":{"mediaMs":"1","wallMs":2}}', '{"clock":{"mediaMs":1}}', '{"clock":{"mediaMs":1e999,"wallMs":2}}', '{', 'x'.repeat(100_000)]) {
    assert.equal(parseClock(bad), null, bad.slice(0, 40));
  }
});

test('the socket address follows the page (ws on http, wss on https) and escapes the id', () => {
  assert.equal(realtimeUrl('abc', { protocol: 'http:', host: '127.0.0.1:3000' }), 'ws://127.0.0.1:3000/realtime/abc');
  assert.equal(realtimeUrl('a/b', { protocol: 'https:', host: 'tv.example' }), 'wss://tv.example/realtime/a%2Fb');
});

test('?mode=: realtime or hls force one; anything else is auto', () => {
  assert.equal(modeFromQuery('?mode=realtime'), 'realtime');
  assert.equal(modeFromQuery('?x=1&mode=hls'), 'hls');
  for (const q of ['', '?mode=', '?mode=HLS', '?mode=webrtc', '?other=realtime']) assert.equal(modeFromQuery(q), 'auto', q);
});
