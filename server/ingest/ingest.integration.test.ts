/**
 * Browser ingest without a browser: a real WebSocket client sends a real WebM/Matroska file
 * (made by ffmpeg, like MediaRecorder's output) in real time; real ffmpeg bridges it to our relay.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { probe, run, startTestServer, waitFor, type TestServer } from '../testing/harness';
import { openIngest, type IngestClient as Client } from '../testing/ingest-client';

/** The pongs report a clock 5 s ahead of the server's, as a browser's clock may be. */
const connect = (server: TestServer): Promise<Client> => openIngest(server.http, { clockSkewMs: 5000 });

function start(c: Client, s: { id: string; key: string }, mimeType = 'video/webm;codecs=h264,opus') {
  c.ws.send(JSON.stringify({ type: 'start', v: 1, streamId: s.id, key: s.key, mimeType, captureStart: Date.now() + 5000 }));
  return waitFor('started', () => c.messages.find((m) => m.type === 'started'), 10000);
}

/** Send a file in pieces at about real time (`seconds` of media). Stops early when `stop()` says so. */
async function sendPaced(c: Client, file: Buffer, seconds: number, stop = () => false): Promise<void> {
  const pieces = Math.ceil(seconds * 4); // 250 ms chunks, like MediaRecorder's timeslice
  const size = Math.ceil(file.length / pieces);
  for (let i = 0; i < pieces && !stop(); i++) {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    c.ws.send(file.subarray(i * size, (i + 1) * size));
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function makeRecording(dir: string, name: string, codec: 'h264' | 'vp8', seconds: number): Promise<Buffer> {
  const file = path.join(dir, name);
  const video = codec === 'h264' ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-g', '20', '-pix_fmt', 'yuv420p'] : ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '1M', '-g', '20'];
  // Audio first: MediaRecorder's track order varies, the bridge must map explicitly.
  const p = run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=20', '-t', String(seconds), '-map', '0:a', '-map', '1:v', ...video, '-c:a', 'libopus', '-b:a', '64k', '-f', codec === 'h264' ? 'matroska' : 'webm', '-y', file], { timeoutMs: 120000 });
  assert.equal(await p.exited, 0, p.stderr());
  return readFile(file);
}

/** RTMP publish names on the command lines of this process's ffmpeg children (from /proc). */
function ffmpegPublishNames(): string[] {
  const names: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1] !== String(process.pid)) continue;
      for (const arg of readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')) {
        const m = /^rtmp:\/\/[^/]+\/live\/(.+)$/.exec(arg);
        if (m) names.push(m[1]);
      }
    } catch {
      /* gone meanwhile */
    }
  }
  return names;
}

describe('browser ingest over /ingest', () => {
  let server: TestServer;
  let dir: string;
  let h264: Buffer;
  let vp8: Buffer;
  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '10' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'golive-ingest-'));
    [h264, vp8] = await Promise.all([makeRecording(dir, 'a.mkv', 'h264', 12), makeRecording(dir, 'b.webm', 'vp8', 8)]);
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('/api/ingest says browser ingest is available', async () => {
    const info = (await (await fetch(`${server.http}/api/ingest`)).json()) as { available: boolean; maxMessageBytes: number };
    assert.equal(info.available, true);
    assert.ok(info.maxMessageBytes >= 1024 * 1024);
  });

  test('H.264 WebM is remuxed: the relay plays H.264 + AAC, stats flow, Stop ends it with no ffmpeg left', async () => {
    const s = await server.createStream();
    const c = await connect(server);
    const started = await start(c, s);
    assert.equal(started.transcode, false);
    assert.equal((started.urls as Record<string, string>).rtmpPlay, `rtmp://127.0.0.1:${server.rtmpPort}/live/${s.id}`);
    let done = false;
    const sending = sendPaced(c, h264, 12, () => done);
    await waitFor('relay live', () => server.hub.isLive(s.id), 15000);
    // ffmpeg's command line (visible to every user in `ps`) carries a key for this session only, not the stream's key.
    const sessionKey = await waitFor('the ingest ffmpeg', () => ffmpegPublishNames().find((n) => n.startsWith(`${s.id}_`)));
    assert.notEqual(sessionKey, s.key);
    assert.ok(!ffmpegPublishNames().some((n) => n === s.key), "the stream's key is on no command line");
    assert.equal(server.registry.verifyKey(sessionKey)?.id, s.id);
    const streams = await probe(`${server.rtmpUrl}/${s.id}`);
    assert.equal(streams.find((x) => x.codec_type === 'video')?.codec_name, 'h264');
    assert.equal(streams.find((x) => x.codec_type === 'video')?.width, 640);
    assert.equal(streams.find((x) => x.codec_type === 'audio')?.codec_name, 'aac');
    const stats = await waitFor('stats with ffmpeg progress', () => c.messages.find((m) => m.type === 'stats' && (m.ingest as { frames: number }).frames > 0), 10000);
    assert.ok((stats.received as { bytes: number }).bytes > 0);
    // The page's clock runs 5 s ahead in this test: the server measured it.
    const withOffset = await waitFor('clock offset', () => c.messages.findLast((m) => m.type === 'stats' && typeof m.clockOffsetMs === 'number'), 10000);
    assert.ok(Math.abs((withOffset.clockOffsetMs as number) - 5000) < 200, `offset ${withOffset.clockOffsetMs}`);
    // HLS PDT is the capture time on the server's clock (captureStart was sent on the page's clock).
    // A viewer asks (LL-HLS is packaged on demand): the packager starts from the cached GOP.
    assert.equal(server.hls.activate(s.id), true);
    const seg = server.hls.segmenter(s.id)!;
    await waitFor('an HLS segment', () => seg.segments.length > 0);
    const drift = seg.segments[0].programDateTime - Date.now();
    assert.ok(drift < 0 && drift > -15000, `PDT ${drift} ms from now`);
    done = true;
    await sending;
    c.ws.send(JSON.stringify({ type: 'stop' }));
    const closed = await c.closed;
    assert.equal(closed.code, 1000);
    await waitFor('ffmpeg gone', () => server.ingest.running === 0, 10000);
    await waitFor('stream ended at once', () => !server.hub.isActive(s.id), 5000);
    assert.equal(server.registry.verifyKey(sessionKey), null, 'the session key died with its ffmpeg');
    assert.equal(server.registry.verifyKey(s.key)?.id, s.id);
  });

  test('VP8 WebM is transcoded to H.264', async () => {
    const s = await server.createStream();
    const c = await connect(server);
    const started = await start(c, s, 'video/webm;codecs=vp8,opus');
    assert.equal(started.transcode, true);
    let done = false;
    const sending = sendPaced(c, vp8, 8, () => done);
    await waitFor('relay live', () => server.hub.isLive(s.id), 20000);
    const streams = await probe(`${server.rtmpUrl}/${s.id}`);
    assert.equal(streams.find((x) => x.codec_type === 'video')?.codec_name, 'h264');
    assert.equal(streams.find((x) => x.codec_type === 'audio')?.codec_name, 'aac');
    done = true;
    await sending;
    c.ws.close();
    await waitFor('ffmpeg gone after the page closed', () => server.ingest.running === 0, 10000);
  });

  test('a dropped socket: the page reconnects, the relay keeps its player through the gap', async () => {
    const s = await server.createStream();
    let c = await connect(server);
    await start(c, s);
    let done = false;
    let sending = sendPaced(c, h264, 12, () => done);
    await waitFor('relay live', () => server.hub.isLive(s.id), 15000);
    const out = path.join(dir, 'resume.flv');
    const player = run('ffmpeg', ['-v', 'error', '-i', `${server.rtmpUrl}/${s.id}`, '-c', 'copy', '-y', out], { timeoutMs: 60000 });
    await waitFor('player attached', () => server.hub.stats(s.id)?.subscribers.rtmp === 1);
    await new Promise((r) => setTimeout(r, 1500));
    c.ws.terminate(); // the network drops
    done = true;
    await sending;
    await waitFor('relay reconnecting', () => server.hub.stats(s.id)?.state === 'reconnecting', 10000);
    assert.equal(server.hub.stats(s.id)?.subscribers.rtmp, 1, 'player still attached');
    done = false;
    c = await connect(server);
    await start(c, s);
    sending = sendPaced(c, h264, 6, () => done);
    await waitFor('relay live again', () => server.hub.isLive(s.id), 15000);
    const before = server.hub.stats(s.id)!.packetsIn;
    await new Promise((r) => setTimeout(r, 2000));
    assert.ok(server.hub.stats(s.id)!.packetsIn > before);
    assert.equal(player.child.exitCode, null, `the player is still playing: ${player.stderr()}`);
    await sending;
    c.ws.send(JSON.stringify({ type: 'stop' }));
    await c.closed;
    await player.exited;
    const info = run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', out]);
    await info.exited;
    assert.ok(Number(info.stdout().toString()) > 4, `player got ${info.stdout()} s across the drop`);
    await waitFor('ffmpeg gone', () => server.ingest.running === 0, 10000);
  });

  test('bad input gets a close code and a reason; the server stays healthy', async () => {
    const s = await server.createStream();
    const expectClose = async (send: (c: Client) => void | Promise<void>, code: number, reason: RegExp) => {
      const c = await connect(server);
      await send(c);
      const closed = await c.closed;
      assert.equal(closed.code, code, `${closed.code} ${closed.reason}`);
      assert.match(closed.reason, reason);
    };
    await expectClose((c) => c.ws.send('not json'), 4400, /JSON/);
    await expectClose((c) => c.ws.send(JSON.stringify({ type: 'start', v: 1, streamId: s.id, key: s.key, mimeType: 'video/webm', captureStart: 1, extra: true })), 4400, /bad message/);
    await expectClose((c) => c.ws.send(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])), 4400, /before the start/);
    await expectClose((c) => c.ws.send(JSON.stringify({ type: 'start', v: 1, streamId: s.id, key: `${s.id}_wrong`, mimeType: 'video/webm', captureStart: 1 })), 4401, /key/);
    await expectClose((c) => c.ws.send(JSON.stringify({ type: 'start', v: 1, streamId: s.id, key: s.key, mimeType: 'video/ogg', captureStart: 1 })), 4415, /unsupported/);
    await expectClose(async (c) => {
      await start(c, s);
      c.ws.send(Buffer.from('GARBAGE GARBAGE GARBAGE'));
    }, 4415, /WebM/);
    await expectClose((c) => c.ws.send(Buffer.alloc(9 * 1024 * 1024)), 1009, /.*/);
    // A second page for a stream that is live from the first one.
    const first = await connect(server);
    await start(first, s);
    const sending = sendPaced(first, h264, 4);
    await waitFor('first live', () => server.hub.isLive(s.id), 15000);
    await expectClose((c) => c.ws.send(JSON.stringify({ type: 'start', v: 1, streamId: s.id, key: s.key, mimeType: 'video/webm;codecs=h264', captureStart: 1 })), 4409, /already/);
    await sending;
    first.ws.send(JSON.stringify({ type: 'stop' }));
    await first.closed;
    assert.equal((await fetch(`${server.http}/healthz`)).status, 200);
    await waitFor('ffmpeg gone', () => server.ingest.running === 0, 10000);
  });

  test('a first chunk split after one byte is still recognised', async () => {
    const s = await server.createStream();
    const c = await connect(server);
    await start(c, s);
    c.ws.send(h264.subarray(0, 1));
    const sending = sendPaced(c, h264.subarray(1), 3);
    await waitFor('relay live', () => server.hub.isLive(s.id), 15000);
    await sending;
    c.ws.send(JSON.stringify({ type: 'stop' }));
    assert.equal((await c.closed).code, 1000);
    await waitFor('ffmpeg gone', () => server.ingest.running === 0, 10000);
  });

  test('server shutdown ends every ingest ffmpeg', async () => {
    const local = await startTestServer();
    try {
      const s = await local.createStream();
      const c = await connect(local);
      await start(c, s);
      const sending = sendPaced(c, h264, 3);
      await waitFor('ffmpeg running', () => local.ingest.running === 1);
      await local.close();
      assert.equal(local.ingest.running, 0);
      const closed = await c.closed;
      assert.equal(closed.code, 1012);
      await sending;
    } finally {
      await local.stop();
    }
  });
});
