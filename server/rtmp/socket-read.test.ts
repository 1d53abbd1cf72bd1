import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChunkReader, encodeMessage } from './chunk';
import { READ_BUFFER_SIZE, startReading, type ReadMode } from './socket-read';
import { RtmpServer, type ConnectionHandler } from './server';
import { RtmpClient, connectPlayer, connectPublisher } from '../testing/rtmp-client';

/** n bytes, all derived from `seed`, so a payload overwritten by another's bytes is caught. */
function body(seed: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  if (n >= 4) b.writeUInt32BE(seed, 0);
  return b;
}

/** Feeds `stream` to `reader` in pieces of `sizes` (cycled), each copied into the same buffer, like socket reads. */
function feedReused(reader: ChunkReader, stream: Buffer, sizes: number[]) {
  const readBuf = Buffer.alloc(Math.max(...sizes));
  const kept: Buffer[] = [];
  let pos = 0;
  for (let i = 0; pos < stream.length; i++) {
    const n = Math.min(sizes[i % sizes.length], stream.length - pos);
    stream.copy(readBuf, 0, pos, pos + n);
    for (const m of reader.push(readBuf.subarray(0, n))) kept.push(m.payload);
    readBuf.fill(0xee); // what the next read would do to it
    pos += n;
  }
  return kept;
}

describe('ChunkReader with reusedInput: no payload is a view of the read buffer', () => {
  // Single-chunk messages (128-byte chunks, 20..120-byte payloads), a few multi-chunk ones, on three chunk streams.
  const payloads = Array.from({ length: 60 }, (_, i) => body(i + 1, i % 10 === 9 ? 700 : 20 + (i % 5) * 25));
  const stream = Buffer.concat(payloads.map((p, i) => encodeMessage({ csid: 4 + (i % 3), type: 8, streamId: 1, timestamp: i * 20, payload: p }, 128)));

  for (const sizes of [[stream.length], [1], [7, 130, 3], [12, 40], [200]]) {
    test(`reads of ${sizes.join(', ')} bytes`, () => {
      const kept = feedReused(new ChunkReader({ reusedInput: true }), stream, sizes);
      assert.equal(kept.length, payloads.length);
      kept.forEach((p, i) => assert.ok(p.equals(payloads[i]), `payload ${i} changed after later reads`));
    });
  }

  test('without it, kept single-chunk payloads are overwritten (what the test above would catch)', () => {
    const kept = feedReused(new ChunkReader(), stream, [200]);
    assert.equal(kept.length, payloads.length);
    assert.ok(kept.some((p, i) => !p.equals(payloads[i])), 'zero-copy payloads should be views of the read buffer');
  });
});

/** A server socket (accepted with or without pauseOnConnect) and its client. */
async function pair(pauseOnConnect: boolean, setup: (socket: net.Socket) => void) {
  const server = net.createServer({ pauseOnConnect }, setup);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((r) => client.once('connect', r));
  return { server, client };
}

/** Sends 200 small writes with pauses between some (separate reads), closes, and returns what the server got. */
async function roundTrip(pauseOnConnect: boolean, tamper?: (socket: net.Socket) => void) {
  const got: Buffer[] = [];
  let mode: ReadMode | null = null;
  let reused = 0;
  let serverClosed!: () => void;
  const closed = new Promise<void>((r) => (serverClosed = r));
  const { server, client } = await pair(pauseOnConnect, (socket) => {
    tamper?.(socket);
    mode = startReading(socket, Buffer.allocUnsafeSlow(READ_BUFFER_SIZE), (data, r) => {
      if (r) reused++;
      got.push(Buffer.from(data));
    });
    socket.on('close', serverClosed);
  });
  const sent = Array.from({ length: 200 }, (_, i) => body(i, 1 + (i % 37)));
  for (let i = 0; i < sent.length; i++) {
    client.write(sent[i]);
    if (i % 10 === 0) await sleep(2);
  }
  client.end();
  await closed; // the server side saw EOF and closed (allowHalfOpen false)
  server.close();
  assert.ok(Buffer.concat(got).equals(Buffer.concat(sent)), 'the server read exactly the bytes sent');
  return { mode: mode as ReadMode | null, reused, reads: got.length };
}

describe('startReading', { timeout: 10_000 }, () => {
  test('an accepted, paused socket reads into the user buffer; every byte arrives, EOF closes it', async () => {
    const r = await roundTrip(true);
    // Node 20 (the engines range) has the internals this relies on; elsewhere the fallback must still be right.
    if (process.versions.node.startsWith('20.')) assert.equal(r.mode, 'user-buffer');
    if (r.mode === 'user-buffer') assert.equal(r.reused, r.reads, 'every read came through the user buffer');
  });

  test('a socket that is already flowing falls back to the stream', async () => {
    const r = await roundTrip(false);
    assert.equal(r.mode, 'stream');
    assert.equal(r.reused, 0);
  });

  test('unexpected internals (a buffer generator already set) fall back to the stream', async () => {
    const r = await roundTrip(true, (socket) => {
      const gen = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kBufferGen');
      if (gen) (socket as unknown as Record<symbol, unknown>)[gen] = () => Buffer.alloc(16);
    });
    assert.equal(r.mode, 'stream');
    assert.equal(r.reused, 0);
  });
});

/** A handler that accepts everything and keeps every media payload it is given. */
function recordingHandler(kept: Map<number, Buffer[]>): (conn: { id: number }) => ConnectionHandler {
  return (conn) => ({
    connect: () => ({ ok: true }),
    publish: () => ({ ok: true }),
    play: () => ({ ok: true }),
    media: (m) => {
      let list = kept.get(conn.id);
      if (!list) kept.set(conn.id, (list = []));
      list.push(m.payload);
    },
    metadata: () => undefined,
    streamClosed: () => undefined,
    closed: () => undefined,
  });
}

async function listen(rtmp: RtmpServer): Promise<number> {
  await new Promise<void>((r) => rtmp.netServer.listen(0, '127.0.0.1', r));
  return (rtmp.netServer.address() as net.AddressInfo).port;
}

describe('RtmpServer reads', () => {
  test('payloads kept by the handler survive later reads of every connection (shared read buffer)', { timeout: 20_000 }, async () => {
    const kept = new Map<number, Buffer[]>();
    const rtmp = new RtmpServer({}, recordingHandler(kept));
    const port = await listen(rtmp);
    try {
      const pubs = await Promise.all([1, 2].map((k) => connectPublisher(`rtmp://127.0.0.1:${port}/live/s${k}`, { chunkSize: 4096 })));
      // Interleaved single-chunk audio and multi-chunk video from two publishers, in separate reads.
      for (let i = 0; i < 150; i++) {
        pubs.forEach((p, k) => {
          p.audio(i * 23, body(k * 1000 + i, 10 + (i % 300)));
          if (i % 15 === 0) p.video(i * 23, body(k * 1000 + 500 + i, 9000));
        });
        if (i % 3 === 0) await sleep(1);
      }
      await Promise.all(pubs.map((p) => p.unpublish()));
      const all = [...kept.values()].flat();
      assert.equal(all.length, 2 * (150 + 10));
      for (const list of kept.values()) {
        const k = list[0].readUInt32BE(0) >= 1000 ? 1 : 0;
        let n = 0;
        for (let i = 0; i < 150; i++) {
          assert.ok(list[n++].equals(body(k * 1000 + i, 10 + (i % 300))), `publisher ${k} audio ${i} intact`);
          if (i % 15 === 0) assert.ok(list[n++].equals(body(k * 1000 + 500 + i, 9000)), `publisher ${k} video ${i} intact`);
        }
      }
    } finally {
      await rtmp.close();
    }
  });

  test('a C0+C1 that arrives in several reads is kept intact (S2 echoes C1)', { timeout: 10_000 }, async () => {
    const rtmp = new RtmpServer({}, recordingHandler(new Map()));
    const port = await listen(rtmp);
    try {
      const c1 = body(7, 1536);
      c1.writeUInt32BE(0, 4); // zero version: the simple handshake, whose S2 is C1 itself
      const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
      const got: Buffer[] = [];
      let n = 0;
      const all = new Promise<Buffer>((resolve) => {
        socket.on('data', (d: Buffer) => {
          got.push(d);
          if ((n += d.length) >= 1 + 1536 * 2) resolve(Buffer.concat(got));
        });
        socket.on('close', () => resolve(Buffer.concat(got))); // e.g. the server refused a corrupted C0
      });
      await new Promise<void>((r) => socket.once('connect', r));
      socket.write(Buffer.concat([Buffer.from([3]), c1.subarray(0, 500)]));
      await sleep(20);
      socket.write(c1.subarray(500, 1000));
      await sleep(20);
      socket.write(c1.subarray(1000));
      const reply = await all;
      assert.ok(reply.subarray(1 + 1536, 1 + 1536 * 2).equals(c1), 'S2 is the C1 that was sent');
      socket.destroy();
    } finally {
      await rtmp.close();
    }
  });

  test('timeouts: silent before the handshake and idle after it are closed; players and talkers are not', { timeout: 20_000 }, async () => {
    const rtmp = new RtmpServer({ handshakeTimeoutMs: 200, idleTimeoutMs: 400 }, recordingHandler(new Map()));
    const port = await listen(rtmp);
    try {
      const t0 = Date.now();
      const silent = net.connect({ host: '127.0.0.1', port });
      silent.on('error', () => undefined);
      const idle = await RtmpClient.open(`rtmp://127.0.0.1:${port}/live`, { chunkSize: 128 });
      const tIdle = Date.now();
      const player = await connectPlayer(`rtmp://127.0.0.1:${port}/live/x`);
      const talker = await connectPublisher(`rtmp://127.0.0.1:${port}/live/y`);
      const silentClosed = new Promise<number>((r) => silent.once('close', () => r(Date.now() - t0)));
      const idleClosed = idle.closed.then(() => Date.now() - tIdle);
      // The talker sends something every 100 ms, the player nothing, for 1.2 s.
      for (let i = 0; i < 12; i++) {
        talker.audio(i * 100, body(i, 50));
        await sleep(100);
      }
      const s = await silentClosed;
      const i = await idleClosed;
      // Closed no earlier than the timeout and at most a sweep (a quarter of the shorter timeout) later, plus slack.
      assert.ok(s >= 190 && s < 200 + 50 + 150, `silent socket closed after ${s} ms`);
      assert.ok(i >= 390 && i < 400 + 50 + 150, `idle connection closed after ${i} ms`);
      assert.equal(player.closeReason, null, 'the player (sending nothing) is still connected');
      assert.equal(talker.closeReason, null, 'the publisher that keeps sending is still connected');
      assert.equal(rtmp.connectionCount, 2);
      await Promise.all([player.close(), talker.close()]);
      for (let n = 0; n < 50 && rtmp.connectionCount > 0; n++) await sleep(20);
      assert.equal(rtmp.connectionCount, 0);
    } finally {
      await rtmp.close();
    }
  });

  test('max connections: the one over the limit is closed at once, the others work', async () => {
    const rtmp = new RtmpServer({ maxConnections: 2 }, recordingHandler(new Map()));
    const port = await listen(rtmp);
    try {
      const a = await RtmpClient.open(`rtmp://127.0.0.1:${port}/live`);
      const b = await RtmpClient.open(`rtmp://127.0.0.1:${port}/live`);
      await assert.rejects(RtmpClient.open(`rtmp://127.0.0.1:${port}/live`), /closed during the handshake|ECONNRESET/);
      await a.connect();
      await b.connect();
      await Promise.all([a.close(), b.close()]);
    } finally {
      await rtmp.close();
    }
  });
});
