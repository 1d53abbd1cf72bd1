/**
 * VLC plays the relay's RTMP (issue #3: ffmpeg/ffplay, librtmp, OBS and VLC). VLC's RTMP access
 * is libavformat's native RTMP behind VLC's own demux/remux; it sends getStreamLength before play.
 * `npm test` installs VLC (scripts/system-deps.mjs), so this never silently skips; OBS and VLC over
 * HLS are in `npm run interop` (docs/interop.md).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeMedia, mediaInfo, recordWithVlc, startRtmpTap, tapSummary, type RtmpTap } from '../testing/clients';
import { publishTestStream, startTestServer, waitLive, type TestServer } from '../testing/harness';

describe('VLC as an RTMP player', () => {
  let server: TestServer;
  let tap: RtmpTap;
  let tmp: string;
  before(async () => {
    server = await startTestServer();
    tap = await startRtmpTap(server.rtmpPort!);
    tmp = await mkdtemp(path.join(os.tmpdir(), 'golive-vlc-'));
  });
  after(async () => {
    await tap.close();
    await server.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  test('cvlc plays rtmp://…/live/<id> for 5 s: H.264 + AAC all along, no error reply', async () => {
    const s = await server.createStream();
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { fps: 25, gop: 25 });
    try {
      await waitLive(server, s.id);
      const out = path.join(tmp, 'vlc.ts');
      const vlc = await recordWithVlc(tap.url(`live/${s.id}`), out, 5, { dir: tmp });
      assert.equal(await vlc.exited, 0, vlc.output());
      const info = await mediaInfo(out);
      const what = describeMedia(info);
      assert.equal(info.video?.codec, 'h264', what);
      assert.equal(info.video?.width, 320, what);
      assert.equal(info.audio?.codec, 'aac', what);
      assert.equal(info.audio?.sampleRate, 44100, what);
      assert.ok(info.duration >= 4 && info.duration <= 6.5, what);
      assert.ok(info.video!.packets >= info.duration * 25 * 0.8, what);
      assert.ok(info.audio!.packets >= info.duration * 43 * 0.8, what);
      // What VLC sent and what we answered, through the tap: a play, and no error reply.
      const summaries = tap.connections.map(tapSummary);
      assert.ok(summaries.some((x) => /\bplay\(/.test(x.client)), summaries.map((x) => x.client).join('\n'));
      for (const x of summaries) assert.deepEqual(x.errors, [], x.server);
    } finally {
      await pub.kill('SIGKILL');
    }
  });
});
