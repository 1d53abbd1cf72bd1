import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ingestArgs, ProgressParser, type FfmpegProgress } from './args';

test('the remux path copies H.264, maps explicitly and pushes FLV with progress on stdout', () => {
  const a = ingestArgs({ input: 'webm', transcode: false, output: 'rtmp://127.0.0.1:1935/live/k' });
  const s = a.join(' ');
  assert.ok(s.includes('-f matroska -i pipe:0'));
  assert.ok(s.includes('-map 0:v:0? -map 0:a:0?'));
  assert.ok(s.includes('-c:v copy'));
  assert.ok(!s.includes('nobuffer'));
  assert.ok(s.includes('-progress pipe:1'));
  assert.ok(s.includes('-max_interleave_delta 1'), 'packets go out at once, not held to interleave');
  assert.deepEqual(a.slice(-5, -1), ['-f', 'flv', '-flvflags', 'no_duration_filesize']);
  assert.equal(a.at(-1), 'rtmp://127.0.0.1:1935/live/k');
});

test('the transcode path caps the frame rate and forces 1 s keyframes', () => {
  const s = ingestArgs({ input: 'webm', transcode: true, output: 'rtmp://x/live/k', videoBitrate: 1_200_000 }).join(' ');
  assert.ok(s.includes('-c:v libx264 -preset veryfast -tune zerolatency'));
  assert.ok(s.includes('-r 30 -force_key_frames expr:gte(t,n_forced*1)'));
  assert.ok(s.includes('-b:v 1200k'));
});

test('progress blocks are parsed, split anywhere', () => {
  const got: FfmpegProgress[] = [];
  const p = new ProgressParser((x) => got.push(x));
  const text = 'frame=120\nfps=29.97\nbitrate=2512.3kbits/s\ntotal_size=1234567\nout_time_us=4000000\nout_time_ms=4000000\nspeed=1.01x\nprogress=continue\nframe=150\nfps=30\nbitrate=N/A\nspeed=N/A\nprogress=end\n';
  for (let i = 0; i < text.length; i += 7) p.push(text.slice(i, i + 7));
  assert.equal(got.length, 2);
  assert.deepEqual(got[0], { frame: 120, fps: 29.97, bitrateKbps: 2512.3, totalSize: 1234567, outTimeMs: 4000, speed: 1.01, done: false });
  assert.equal(got[1].frame, 150);
  assert.equal(got[1].bitrateKbps, 0);
  assert.equal(got[1].done, true);
});
