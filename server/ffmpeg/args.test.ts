import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { run } from '../testing/harness';
import { AUDIO_START_MS, ingestArgs, ProgressParser, type FfmpegProgress } from './args';

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

test('real ffmpeg: a WebM/Matroska whose audio starts before its video goes through the remux and transcode paths', async () => {
  // ffmpeg's own Opus in Matroska starts at -7 ms (pre-skip), before the video: with packets sent unheld, the
  // FLV muxer used to refuse the AAC packets older than the first video frame and ffmpeg exited at once.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-args-'));
  try {
    for (const [codec, transcode] of [['h264', false], ['vp8', true]] as const) {
      const input = path.join(dir, `in-${codec}.mkv`);
      const video = codec === 'h264' ? ['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '30'] : ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-g', '30'];
      const enc = run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '3', '-map', '0:v', '-map', '1:a', ...video, '-c:a', 'libopus', '-b:a', '64k', '-f', 'matroska', '-y', input], { timeoutMs: 60000 });
      assert.equal(await enc.exited, 0, enc.stderr());
      const out = path.join(dir, `out-${codec}.flv`);
      const args = ingestArgs({ input: 'webm', transcode, output: out, videoBitrate: 500_000 });
      const ff = run('ffmpeg', args.map((a) => (a === 'pipe:0' ? input : a)), { timeoutMs: 60000 });
      assert.equal(await ff.exited, 0, `${codec}: ${ff.stderr()}`);
      const probe = run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,start_time', '-of', 'csv=p=0', out], { timeoutMs: 30000 });
      assert.equal(await probe.exited, 0);
      const streams = probe.stdout().toString().trim().split('\n').map((l) => l.split(','));
      assert.deepEqual(streams.map((x) => x[0]).sort(), ['aac', 'h264'], `${codec}: ${probe.stdout().toString()}`);
      const audioStart = Number(streams.find((x) => x[0] === 'aac')![1]);
      assert.ok(Math.abs(audioStart - AUDIO_START_MS / 1000) < 0.002, `${codec}: audio starts at ${audioStart}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
