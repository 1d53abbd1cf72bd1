/**
 * Recording with real parts: ffmpeg publishing over RTMP, the real server, ffprobe/ffmpeg reading what it recorded
 * (the MP4 download and the HLS playlist), HTTP Range, a reconnect within the grace period, and a write error that
 * stops the recording while the live stream goes on.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectPlayer } from '../testing/rtmp-client';
import { operatorHeaders, publishTestStream, run, startTestServer, waitFor, waitLive, type TestServer } from '../testing/harness';
import type { RecordFile } from './recorder';

interface View {
  id: string;
  streamId: string;
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number;
  bytes: number;
  state: string;
  error: string | null;
  urls: { playlist: string; mp4: string; watch: string };
}

async function recordings(server: TestServer, id: string, query = ''): Promise<{ recordings: View[]; next: string | null }> {
  const res = await fetch(`${server.http}/api/streams/${id}/recordings${query}`);
  assert.equal(res.status, 200);
  return (await res.json()) as { recordings: View[]; next: string | null };
}

function waitRecording(server: TestServer, id: string, state: string, count = 1, timeoutMs = 30000): Promise<View[]> {
  return waitFor(`${count} recording(s) of ${id} ${state}`, async () => {
    const l = (await recordings(server, id)).recordings;
    return l.length >= count && l.slice(0, count).every((r) => r.state === state) ? l : null;
  }, timeoutMs);
}

async function ffprobeJson(target: string, args: string[]): Promise<Record<string, unknown>> {
  const p = run('ffprobe', ['-v', 'error', ...args, '-of', 'json', target], { timeoutMs: 60000 });
  const code = await p.exited;
  assert.equal(code, 0, `ffprobe ${target}: ${p.stderr()}`);
  return JSON.parse(p.stdout().toString()) as Record<string, unknown>;
}

/** Video frames ffmpeg decodes from `target`. */
async function decodedFrames(target: string): Promise<number> {
  const j = (await ffprobeJson(target, ['-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames'])) as {
    streams: Array<{ nb_read_frames: string }>;
  };
  return Number(j.streams[0].nb_read_frames);
}

describe('recording (real ffmpeg over RTMP)', () => {
  let server: TestServer;
  let tmp: string;
  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '4' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'golive-rec-'));
  });
  after(async () => {
    await server.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('records a 20 s broadcast: H.264 + AAC, its duration, every frame; Range; a VOD playlist', async () => {
    const s = await server.createStream('twenty');
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 20, speed: 2 });
    await waitLive(server, s.id);
    // While it records: listed as recording, an EVENT playlist without an end.
    const live = (await waitRecording(server, s.id, 'recording'))[0];
    const event = await (await fetch(live.urls.playlist)).text();
    assert.match(event, /#EXT-X-PLAYLIST-TYPE:EVENT/);
    assert.doesNotMatch(event, /#EXT-X-ENDLIST/);
    assert.equal(await pub.exited, 0, pub.stderr());
    const [rec] = await waitRecording(server, s.id, 'ended');

    const one = (await (await fetch(`${server.http}/api/recordings/${rec.id}`)).json()) as View;
    assert.deepEqual(Object.keys(one.urls).sort(), ['mp4', 'playlist', 'watch']);
    assert.equal(one.streamId, s.id);
    assert.ok(one.endedAt && Date.parse(one.endedAt) >= Date.parse(one.startedAt));
    assert.ok(Math.abs(one.durationSeconds - 20) <= 1.05, `indexed duration ${one.durationSeconds}`);

    const full = Buffer.from(await (await fetch(rec.urls.mp4)).arrayBuffer());
    const head = await fetch(rec.urls.mp4, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(full.length));
    assert.equal(head.headers.get('accept-ranges'), 'bytes');
    const file = path.join(tmp, 'twenty.mp4');
    await writeFile(file, full);
    const info = (await ffprobeJson(file, ['-show_entries', 'format=duration:stream=codec_name,codec_type'])) as {
      format: { duration: string };
      streams: Array<{ codec_name: string; codec_type: string }>;
    };
    assert.deepEqual(info.streams.map((x) => x.codec_name).sort(), ['aac', 'h264']);
    // ± one segment (HLS_SEGMENT_TARGET 1 s, keyframe every second).
    assert.ok(Math.abs(Number(info.format.duration) - 20) <= 1.05, `ffprobe duration ${info.format.duration}`);
    // Frame-exact: ffmpeg sent 20 s at 25 fps.
    assert.equal(await decodedFrames(file), 500);
    // The HLS playlist: VOD, byte ranges into the file, and it decodes to the same frames.
    const vod = await (await fetch(rec.urls.playlist)).text();
    assert.match(vod, /#EXT-X-PLAYLIST-TYPE:VOD/);
    assert.match(vod, /#EXT-X-ENDLIST/);
    assert.match(vod, /#EXT-X-MAP:URI="fragments.mp4",BYTERANGE="\d+@0"/);
    assert.ok((vod.match(/#EXT-X-BYTERANGE:\d+@\d+/g) ?? []).length >= 19);
    assert.equal(await decodedFrames(rec.urls.playlist), 500);

    // Range: the right bytes, 206; suffix and open ranges; 416 past the end.
    const part = await fetch(rec.urls.mp4, { headers: { Range: 'bytes=1000-4999' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 1000-4999/${full.length}`);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(full.subarray(1000, 5000)));
    const tail = await fetch(rec.urls.mp4, { headers: { Range: 'bytes=-777' } });
    assert.equal(tail.status, 206);
    assert.ok(Buffer.from(await tail.arrayBuffer()).equals(full.subarray(full.length - 777)));
    const mid = Math.floor(full.length / 2);
    const open = await fetch(rec.urls.mp4, { headers: { Range: `bytes=${mid}-` } });
    assert.equal(open.status, 206);
    assert.ok(Buffer.from(await open.arrayBuffer()).equals(full.subarray(mid)));
    const past = await fetch(rec.urls.mp4, { headers: { Range: `bytes=${full.length}-` } });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), `bytes */${full.length}`);
    await past.arrayBuffer();
    // Seeking: ffmpeg starts decoding 12 s in from the sidx, not from the start.
    const seek = run('ffmpeg', ['-v', 'error', '-ss', '12', '-i', rec.urls.mp4, '-frames:v', '1', '-f', 'null', '-'], { timeoutMs: 30000 });
    assert.equal(await seek.exited, 0, seek.stderr());
  });

  it('a publisher back within the grace period continues the recording; a new broadcast starts a new one', async () => {
    const s = await server.createStream('reconnect');
    const first = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 4, speed: 4 });
    assert.equal(await first.exited, 0, first.stderr());
    const second = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 4, speed: 4 });
    assert.equal(await second.exited, 0, second.stderr());
    const [rec] = await waitRecording(server, s.id, 'ended');
    assert.equal((await recordings(server, s.id)).recordings.length, 1, 'one recording for the broadcast');
    const vod = await (await fetch(rec.urls.playlist)).text();
    assert.match(vod, /#EXT-X-DISCONTINUITY/);
    assert.ok(Math.abs(rec.durationSeconds - 8) <= 1.05, `duration ${rec.durationSeconds}`);
    assert.equal(await decodedFrames(rec.urls.playlist), 200);

    // After the end: a new broadcast, a new recording, listed first.
    const third = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 3, speed: 4 });
    assert.equal(await third.exited, 0, third.stderr());
    const list = await waitRecording(server, s.id, 'ended', 2);
    assert.equal(list.length, 2);
    assert.notEqual(list[0].id, rec.id);
    assert.equal(list[1].id, rec.id);
    // Pagination.
    const p1 = await recordings(server, s.id, '?limit=1');
    assert.equal(p1.recordings[0].id, list[0].id);
    assert.ok(p1.next);
    const p2 = await recordings(server, s.id, `?limit=1&cursor=${encodeURIComponent(p1.next)}`);
    assert.equal(p2.recordings[0].id, rec.id);
    assert.equal(p2.next, null);

    // The operator deletes one: gone from the list, its files 404.
    const del = await fetch(`${server.http}/api/recordings/${rec.id}`, { method: 'DELETE', headers: operatorHeaders() });
    assert.equal(del.status, 204);
    assert.equal((await fetch(rec.urls.mp4)).status, 404);
    assert.equal((await recordings(server, s.id)).recordings.length, 1);
  });
});

describe('recording: a write error', () => {
  it('stops the recording (failed, with the reason) while the live stream and an RTMP player keep real time', async () => {
    let writes = 0;
    // Real files, but every write after the 4th fails as a full disk would.
    const { open } = await import('node:fs/promises');
    const openFile = async (file: string): Promise<RecordFile> => {
      const fh = await open(file, 'wx', 0o600);
      return {
        writev: (b, pos) => (++writes > 4 ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })) : fh.writev(b, pos)),
        truncate: (n) => fh.truncate(n),
        datasync: () => fh.datasync(),
        close: () => fh.close(),
      };
    };
    const server = await startTestServer({}, { recordOpenFile: openFile });
    try {
      const s = await server.createStream('full disk');
      const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 14 });
      await waitLive(server, s.id);
      const player = await connectPlayer(`${server.rtmpUrl}/${s.id}`);
      const [failed] = await waitRecording(server, s.id, 'failed');
      assert.match(failed.error ?? '', /ENOSPC/);
      // Still playable up to what was written (the init and 3 segments).
      assert.ok(failed.durationSeconds >= 2 && failed.durationSeconds <= 4, `kept ${failed.durationSeconds} s`);
      assert.ok((await decodedFrames(failed.urls.mp4)) >= 50);
      // The player keeps getting media as it happens: its newest timestamp follows the wall clock.
      const t0 = Date.now();
      const m0 = player.media.lastTimestamp;
      await new Promise((r) => setTimeout(r, 4000));
      const advanced = player.media.lastTimestamp - m0;
      assert.ok(advanced >= 0.6 * (Date.now() - t0), `player media advanced ${advanced} ms in ${Date.now() - t0} ms`);
      // The live HLS playlist is served too.
      const hls = await fetch(`${server.http}/hls/${s.id}/index.m3u8`);
      assert.equal(hls.status, 200);
      assert.match(await hls.text(), /#EXTINF/);
      player.socket.destroy();
      await pub.kill('SIGKILL');
    } finally {
      await server.stop();
    }
  });
});
