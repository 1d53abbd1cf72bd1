/**
 * Browser ingest under hostile clients: ffmpeg only for real media, a media timeout, caps on broadcasts, on sockets
 * per address and on sockets that never start, and an internal failure in `start` that is caught and closed.
 * Real server, real WebSocket clients, real ffmpeg.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { run, startTestServer, waitFor, type TestServer } from '../testing/harness';
import { connectIngest, type IngestClient as Client } from '../testing/ingest-client';

const connect = (server: TestServer): Client => connectIngest(server.http);

function sendStart(c: Client, s: { id: string; key: string }): void {
  c.ws.send(JSON.stringify({ type: 'start', v: 1, streamId: s.id, key: s.key, mimeType: 'video/webm;codecs=h264', captureStart: Date.now() }));
}

/** Resolves with 'started' or the close code, whichever comes first. */
function outcome(c: Client): Promise<'started' | number> {
  return Promise.race([
    waitFor('started', () => c.messages.some((m) => m.type === 'started') && ('started' as const), 20000),
    c.closed.then((x) => x.code),
  ]);
}

async function closeAll(server: TestServer, clients: Client[]): Promise<void> {
  for (const c of clients) if (c.ws.readyState === WebSocket.OPEN || c.ws.readyState === WebSocket.CONNECTING) c.ws.terminate();
  await waitFor('no ingest socket, broadcast or ffmpeg left', () => {
    const n = server.ingest.counts();
    return n.sockets === 0 && n.broadcasts === 0 && n.pending === 0 && n.ffmpeg === 0;
  }, 15000);
}

describe('browser ingest limits', () => {
  let server: TestServer;
  let dir: string;
  let file: Buffer;
  before(async () => {
    server = await startTestServer({
      INGEST_MAX_SESSIONS: '2',
      INGEST_MAX_SOCKETS_PER_ADDRESS: '4',
      INGEST_MAX_PENDING_SOCKETS: '3',
      INGEST_MEDIA_TIMEOUT_SECONDS: '1.5',
    });
    dir = await mkdtemp(path.join(os.tmpdir(), 'golive-limits-'));
    const rec = path.join(dir, 'a.mkv');
    const mk = run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=20', '-t', '10', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '20', '-f', 'matroska', '-y', rec], { timeoutMs: 60000 });
    assert.equal(await mk.exited, 0, mk.stderr());
    file = await readFile(rec);
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a start without media spawns no ffmpeg, and is closed with 4408 after the media timeout', async () => {
    const s = await server.createStream();
    const c = connect(server);
    assert.equal(await c.opened, true);
    sendStart(c, s);
    assert.equal(await outcome(c), 'started');
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(server.ingest.running, 0, 'no ffmpeg before the first media chunk');
    assert.equal(server.ingest.counts().broadcasts, 1, 'but the session holds a broadcast slot');
    const closed = await Promise.race([c.closed, new Promise<null>((r) => setTimeout(() => r(null), 10000))]);
    assert.ok(closed, 'the silent session is closed');
    assert.equal(closed.code, 4408);
    assert.match(closed.reason, /no media/);
    await closeAll(server, [c]);
  });

  test('a broadcast whose media stops is closed with 4408 and its ffmpeg ends', async () => {
    const s = await server.createStream();
    const c = connect(server);
    await c.opened;
    sendStart(c, s);
    assert.equal(await outcome(c), 'started');
    c.ws.send(file.subarray(0, 50_000));
    await waitFor('ffmpeg started by the first media chunk', () => server.ingest.running === 1, 10000);
    // Then nothing: a page that froze, or an attacker holding an ffmpeg.
    const closed = await Promise.race([c.closed, new Promise<null>((r) => setTimeout(() => r(null), 15000))]);
    assert.ok(closed, 'the silent broadcast is closed');
    assert.equal(closed.code, 4408);
    await waitFor('ffmpeg gone', () => server.ingest.running === 0, 10000);
    await closeAll(server, [c]);
  });

  test('INGEST_MAX_SESSIONS counts sessions awaiting media and ffmpegs: the third broadcast gets 4429', async () => {
    const clients: Client[] = [];
    try {
      const streams = [await server.createStream(), await server.createStream(), await server.createStream()];
      // Two accepted broadcasts: one with media (an ffmpeg), one still waiting for its first chunk.
      for (const s of streams.slice(0, 2)) {
        const c = connect(server);
        clients.push(c);
        await c.opened;
        sendStart(c, s);
        assert.equal(await outcome(c), 'started');
      }
      clients[0].ws.send(file.subarray(0, 50_000));
      await waitFor('one ffmpeg', () => server.ingest.running === 1, 10000);
      const third = connect(server);
      clients.push(third);
      await third.opened;
      sendStart(third, streams[2]);
      assert.equal(await outcome(third), 4429);
      assert.match((await third.closed).reason, /limit of 2/);
      assert.ok(server.ingest.running <= 2);
      // A slot comes free when one ends: the next start is taken.
      clients[1].ws.close();
      await waitFor('a slot free', () => server.ingest.counts().broadcasts === 1, 10000);
      const fourth = connect(server);
      clients.push(fourth);
      await fourth.opened;
      sendStart(fourth, streams[2]);
      assert.equal(await outcome(fourth), 'started');
    } finally {
      await closeAll(server, clients);
    }
  });

  test('sockets per address and sockets that never start are capped (4429); the server stays healthy', async () => {
    const clients: Client[] = [];
    try {
      // INGEST_MAX_PENDING_SOCKETS=3: three sockets that say nothing; the fourth is refused.
      for (let i = 0; i < 3; i++) {
        const c = connect(server);
        clients.push(c);
        assert.equal(await c.opened, true);
      }
      await waitFor('three pending', () => server.ingest.counts().pending === 3, 5000);
      const fourth = connect(server);
      clients.push(fourth);
      const refused = await fourth.closed;
      assert.equal(refused.code, 4429);
      assert.match(refused.reason, /waiting to start/);
      // INGEST_MAX_SOCKETS_PER_ADDRESS=4: a started broadcast is not pending, but its socket counts for the address.
      const s = await server.createStream();
      clients[0].ws.terminate();
      await waitFor('two pending', () => server.ingest.counts().pending === 2 && server.ingest.counts().sockets === 2, 5000);
      const a = connect(server);
      clients.push(a);
      await a.opened;
      sendStart(a, s);
      assert.equal(await outcome(a), 'started');
      const b = connect(server);
      clients.push(b);
      assert.equal(await b.opened, true);
      await waitFor('four sockets from this address', () => server.ingest.counts().sockets === 4, 5000);
      const fifth = connect(server);
      clients.push(fifth);
      const perAddress = await fifth.closed;
      assert.equal(perAddress.code, 4429);
      assert.match(perAddress.reason, /your address/);
      assert.equal((await fetch(`${server.http}/healthz`)).ok, true);
    } finally {
      await closeAll(server, clients);
    }
  });

  test('a refused socket that then sends an invalid frame: only that socket is dropped, the server stays up', async () => {
    const clients: Client[] = [];
    const seen: unknown[] = [];
    const onError = (err: unknown) => seen.push(err);
    process.on('uncaughtException', onError);
    try {
      for (let i = 0; i < 3; i++) {
        const c = connect(server);
        clients.push(c);
        await c.opened;
      }
      await waitFor('three pending', () => server.ingest.counts().pending === 3, 5000);
      // A raw client: the upgrade request and, in the same write, a frame with its reserved bits set (unmasked too):
      // a protocol error on the server's side of a socket that is being refused.
      const raw = net.connect(Number(new URL(server.http).port), '127.0.0.1');
      raw.on('error', () => undefined);
      const rawClosed = new Promise<string>((r) => {
        let got = '';
        raw.on('data', (d: Buffer) => (got += d.toString('latin1')));
        raw.on('close', () => r(got));
      });
      raw.write(
        Buffer.concat([
          Buffer.from('GET /ingest HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'),
          Buffer.from([0xf1, 0x05, 1, 2, 3, 4, 5]),
        ]),
      );
      const answer = await Promise.race([rawClosed, new Promise<string>((r) => setTimeout(() => r('still open'), 10000))]);
      raw.destroy();
      assert.match(answer, /^HTTP\/1\.1 101/, 'upgraded, then refused and closed');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(seen, []);
      assert.equal((await fetch(`${server.http}/healthz`)).status, 200);
    } finally {
      process.off('uncaughtException', onError);
      await closeAll(server, clients);
    }
  });

  test('an exception inside start() is caught: logged, the socket closed with 1011, no unhandled rejection', async () => {
    const seen: unknown[] = [];
    const onRejection = (r: unknown) => seen.push(r);
    process.on('unhandledRejection', onRejection);
    const hub = server.hub;
    const original = hub.expectCaptureClock.bind(hub);
    hub.expectCaptureClock = () => {
      throw new Error('injected failure');
    };
    const clients: Client[] = [];
    try {
      const s = await server.createStream();
      const c = connect(server);
      clients.push(c);
      await c.opened;
      sendStart(c, s);
      const closed = await Promise.race([c.closed, new Promise<null>((r) => setTimeout(() => r(null), 10000))]);
      assert.ok(closed, 'the session is closed, not left hanging');
      assert.equal(closed.code, 1011);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(seen, []);
      // Its slot and its claim on the stream are released: the same stream starts once the fault is gone.
      hub.expectCaptureClock = original;
      await waitFor('slot released', () => server.ingest.counts().broadcasts === 0, 5000);
      const again = connect(server);
      clients.push(again);
      await again.opened;
      sendStart(again, s);
      assert.equal(await outcome(again), 'started');
    } finally {
      hub.expectCaptureClock = original;
      process.off('unhandledRejection', onRejection);
      await closeAll(server, clients);
    }
  });
});
