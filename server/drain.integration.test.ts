/**
 * The graceful drain (what SIGTERM / SIGINT run: RunningServer.close()), with an RTMP publisher, an RTMP player, a
 * blocked LL-HLS request and a browser broadcast all in flight: each hears of the end the way its protocol says.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { publishTestStream, run, startTestServer, waitFor, waitLive } from './testing/harness';
import { connectPlayer } from './testing/rtmp-client';

test('drain: RTMP players get Play.Stop, held LL-HLS requests EXT-X-ENDLIST, pages 1012, no ffmpeg left', async () => {
  const server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '30' });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-drain-'));
  const pub = { current: null as ReturnType<typeof publishTestStream> | null };
  try {
    // An RTMP stream with a player and an LL-HLS viewer.
    const s = await server.createStream();
    pub.current = publishTestStream(`${server.rtmpUrl}/${s.key}`, { fps: 25, gop: 25 });
    await waitLive(server, s.id);
    const player = await connectPlayer(`${server.rtmpUrl}/${s.id}`);
    const playStop = player.waitStatus(player.streamId, ['NetStream.Play.Stop']).then(
      () => 'Play.Stop',
      (err: Error) => err.message,
    );
    const base = `${server.http}/hls/${s.id}`;
    assert.equal((await fetch(`${base}/index.m3u8`)).status, 200);
    const seg = await waitFor('segmenter', () => server.hls.segmenter(s.id));
    await waitFor('a few parts', () => seg.segments.length > 0);

    // A browser broadcast on a second stream, its ffmpeg running.
    const b = await server.createStream();
    const rec = path.join(dir, 'a.mkv');
    const mk = run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=20', '-t', '5', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '20', '-f', 'matroska', '-y', rec], { timeoutMs: 60000 });
    assert.equal(await mk.exited, 0, mk.stderr());
    const ws = new WebSocket(`${server.http.replace('http', 'ws')}/ingest`);
    const wsClosed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'start', v: 1, streamId: b.id, key: b.key, mimeType: 'video/webm;codecs=h264', captureStart: Date.now() }));
    ws.send((await readFile(rec)).subarray(0, 100_000));
    await waitFor('ingest ffmpeg', () => server.ingest.running === 1, 15000);

    // A blocking reload for the next segment's first part: held until it exists, or the stream ends.
    const next = seg.nextPart();
    const held = fetch(`${base}/index.m3u8?_HLS_msn=${next.msn + 1}&_HLS_part=0`).then(async (r) => ({ status: r.status, body: await r.text() }));
    await waitFor('the request is held', () => (server.hls.waiting(s.id)?.requests ?? 0) >= 1, 5000, 5);

    const started = Date.now();
    await server.close();
    const took = Date.now() - started;
    assert.ok(took < 15000, `the drain took ${took} ms`);

    const answer = await held;
    assert.equal(answer.status, 200);
    assert.match(answer.body, /#EXT-X-ENDLIST/, 'the held request is answered with the ended playlist');
    assert.equal(await playStop, 'Play.Stop', 'the RTMP player is told the stream stopped');
    const closed = await wsClosed;
    assert.equal(closed.code, 1012);
    assert.match(closed.reason, /restarting/);
    assert.equal(server.ingest.running, 0, 'no ingest ffmpeg');
    assert.equal(server.snapshots.active, 0, 'no snapshot ffmpeg');
    // The RTMP publisher was dropped: it ends on its own.
    const code = await Promise.race([pub.current.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 10000))]);
    assert.notEqual(code, 'still running');
    // Nothing is accepted any more.
    await assert.rejects(fetch(`${server.http}/healthz`));
  } finally {
    await pub.current?.kill('SIGKILL');
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
