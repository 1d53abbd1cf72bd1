import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pingUrl } from './beacon';

test('the ping URL sits beside the playlist; other URLs get none', () => {
  assert.equal(pingUrl('https://x.example/hls/abc/index.m3u8', 'sid12345'), 'https://x.example/hls/abc/ping?sid=sid12345');
  assert.equal(pingUrl('/hls/abc/index.m3u8?x=1', 'sid12345'), '/hls/abc/ping?sid=sid12345');
  assert.equal(pingUrl('/api/recordings/r/index.m3u8', 'sid12345'), null);
});
