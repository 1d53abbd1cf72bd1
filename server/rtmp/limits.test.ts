/**
 * The RTMP listener's limits against misbehaving clients over real sockets (issue 14, items 5, 6 and 12): deadlines,
 * clients that do not read, connection slots, buffered bytes, peer strings in the logs. The server runs in-process with
 * a handler that accepts everything, so that only the listener's own rules are at work.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { Hub } from '../media/hub';
import { StreamRegistry } from '../media/registry';
import { rtmpRelay } from '../relay/rtmp';
import { CLIENT_CSID, RtmpClient, connectPlayer, connectPublisher } from '../testing/rtmp-client';
import { decodeAmf0, encodeAmf0, type Amf0Object } from './amf0';
import { encodeMessage, type RtmpMessage } from './chunk';
import { HANDSHAKE_SIZE } from './handshake';
import { MessageType, UserControlEvent, userControl } from './messages';
import { RtmpServer, type ConnectionHandler, type RtmpConnection, type RtmpLog, type RtmpServerOptions } from './server';
import { closedWithin } from '../testing/sockets';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** Accepts everything; `onPlay` runs after a play is accepted. */
function acceptAll(onPlay?: (conn: RtmpConnection) => void): (conn: RtmpConnection) => ConnectionHandler {
  return (conn) => ({
    connect: () => ({ ok: true }),
    publish: () => ({ ok: true }),
    play: () => {
      if (onPlay) queueMicrotask(() => onPlay(conn));
      return { ok: true };
    },
    media: () => undefined,
    metadata: () => undefined,
    streamClosed: () => undefined,
    closed: () => undefined,
  });
}

async function withServer(
  options: Partial<RtmpServerOptions>,
  handler: (conn: RtmpConnection) => ConnectionHandler,
  fn: (rtmp: RtmpServer, url: (path?: string) => string, port: number) => Promise<void>,
): Promise<void> {
  const rtmp = new RtmpServer(options, handler);
  await new Promise<void>((r) => rtmp.netServer.listen(0, '127.0.0.1', r));
  const port = (rtmp.netServer.address() as net.AddressInfo).port;
  try {
    await fn(rtmp, (p = 'x') => `rtmp://127.0.0.1:${port}/live/${p}`, port);
  } finally {
    await rtmp.close();
  }
}

/** The server's own sockets, seen from 'connection' (works with any version of the listener). */
function serverSockets(rtmp: RtmpServer) {
  const sockets = new Set<net.Socket>();
  rtmp.netServer.on('connection', (s: net.Socket) => sockets.add(s));
  const open = () => [...sockets].filter((s) => !s.destroyed);
  return { open: () => open().length, unsent: () => open().reduce((n, s) => n + s.writableLength, 0) };
}

/** The onStatus infos a client receives (code, description), collected from its messages. */
function statusCollector() {
  const infos: Amf0Object[] = [];
  const onMessage = (m: RtmpMessage) => {
    if (m.type !== MessageType.CommandAmf0) return;
    try {
      const values = decodeAmf0(m.payload);
      if (values[0] === 'onStatus') infos.push(values[3] as Amf0Object);
    } catch {
      // not a command we read
    }
  };
  return { infos, onMessage };
}

describe('RTMP listener limits (issue 14)', () => {
  test('item 5: the handshake deadline counts from accept: a client trickling a byte every 50 ms is closed', { timeout: 30_000 }, async () => {
    await withServer({ handshakeTimeoutMs: 400, idleTimeoutMs: 0 }, acceptAll(), async (rtmp, _url, port) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      await new Promise((r) => socket.once('connect', r));
      socket.write(Buffer.from([3]));
      let sent = 1;
      const trickle = setInterval(() => {
        if (!socket.destroyed && sent < HANDSHAKE_SIZE) socket.write(Buffer.from([sent++ & 0xff]));
      }, 50);
      try {
        // Generous: the deadline is 400 ms, the sweep runs every 100 ms; a busy machine may be late.
        const ms = await closedWithin(socket, 10_000);
        assert.ok(ms >= 300, `closed after ${ms} ms`);
        assert.ok(sent < HANDSHAKE_SIZE, 'closed while it was still trickling');
        await until('slot freed', () => rtmp.connectionCount === 0);
      } finally {
        clearInterval(trickle);
        socket.destroy();
      }
    });
  });

  test('item 5: a connection that talks (pings) but neither publishes nor plays gets an onStatus error at the deadline', { timeout: 30_000 }, async () => {
    await withServer({ publishPlayTimeoutMs: 400, idleTimeoutMs: 60_000 }, acceptAll(), async (rtmp, url) => {
      const status = statusCollector();
      const c = await RtmpClient.open(url(), { onMessage: status.onMessage });
      await c.connect();
      const pinger = setInterval(() => {
        c.sendMessage({ csid: CLIENT_CSID.Control, type: MessageType.UserControl, streamId: 0, timestamp: 0, payload: userControl(UserControlEvent.PingRequest, 1) });
      }, 50);
      try {
        await Promise.race([c.closed, sleep(10_000)]);
        assert.notEqual(c.closeReason, null, 'closed');
        assert.equal(status.infos[0]?.code, 'NetConnection.Connect.IdleTimeOut');
        assert.match(String(status.infos[0]?.description), /^No publish or play within/);
        assert.equal(rtmp.connectionCount, 0);
      } finally {
        clearInterval(pinger);
      }
      // One that plays in time stays.
      const p = await connectPlayer(url());
      await sleep(800);
      assert.equal(p.closeReason, null);
      await p.close();
    });
  });

  test('item 5: a player that takes none of what is sent to it is closed after the idle timeout', { timeout: 30_000 }, async () => {
    // 16 MiB written to the player at once: far more than the socket buffers take.
    const flood = (conn: RtmpConnection) => {
      for (let i = 0; i < 16; i++) conn.write(Buffer.alloc(MiB));
    };
    await withServer({ idleTimeoutMs: 600 }, acceptAll(flood), async (rtmp, url) => {
      const server = serverSockets(rtmp);
      const stalled = await connectPlayer(url(), { pause: true });
      await until('written to the player', () => server.unsent() > 0, 5000);
      // Closed when ~600 ms pass with nothing taken (a quarter of it late at most, plus a busy machine).
      await until('the stalled player is closed', () => server.open() === 0, 10_000);
      assert.equal(rtmp.connectionCount, 0);
      stalled.socket.destroy();
    });
  });

  test('item 5: slots: players cannot take the publishers\' reserve, loopback (our ingest) is counted apart, the oldest pending connection makes room', { timeout: 30_000 }, async () => {
    // 127.0.0.1 plays "our ingest"; outside clients come from 127.0.0.2.
    const options = { maxConnections: 4, reservedPublisherConnections: 2, maxConnectionsPerAddress: 0, internal: (a: string) => a === '127.0.0.1' };
    await withServer(options, acceptAll(), async (rtmp, url) => {
      const outside = { localAddress: '127.0.0.2' };
      const p1 = await connectPlayer(url(), outside);
      const p2 = await connectPlayer(url(), outside);
      await assert.rejects(connectPlayer(url(), outside), /NetStream\.Play\.Failed: Server full/);
      const pub = await connectPublisher(url('key1'), outside);
      assert.deepEqual({ ...rtmp.stats(), unsentBytes: 0, assemblingBytes: 0 }, { connections: 3, internal: 0, pending: 0, players: 2, publishers: 1, unsentBytes: 0, assemblingBytes: 0 });
      // Outside full: a fourth outside connection, then a fifth is refused (nothing pending to make room for it yet).
      const idle = await RtmpClient.open(url(), outside);
      await idle.connect();
      await assert.rejects(RtmpClient.open(url(), outside), /closed during the handshake|ECONNRESET/);
      // Loopback ingest still gets in, whatever the outside pool holds.
      const ingest = await connectPublisher(url('ingest'));
      assert.equal(rtmp.stats().internal, 1);
      // After 2 s the pending connection makes room for a new one.
      await sleep(2100);
      const pub2 = await connectPublisher(url('key2'), outside);
      await Promise.race([idle.closed, sleep(5000)]);
      assert.notEqual(idle.closeReason, null, 'the oldest pending connection was closed to make room');
      assert.equal(p1.closeReason, null);
      assert.equal(pub.closeReason, null);
      await Promise.all([p1, p2, pub, pub2, ingest].map((c) => c.close()));
      await until('slots freed', () => rtmp.connectionCount === 0);
    });
  });

  test('item 5: one address that fills the pool with fresh pending connections cannot keep another address out', { timeout: 30_000 }, async () => {
    await withServer({ maxConnections: 4, maxConnectionsPerAddress: 0 }, acceptAll(), async (rtmp, url) => {
      const attacker = { localAddress: '127.0.0.2' };
      const held = await Promise.all([1, 2, 3, 4].map(() => RtmpClient.open(url(), attacker)));
      assert.equal(rtmp.stats().pending, 4);
      // Its own fifth is refused: it is the heaviest address, and none of its connections has had 2 s yet.
      await assert.rejects(RtmpClient.open(url(), attacker), /closed during the handshake|ECONNRESET/);
      // Another address gets in at once, and the attacker's oldest connection makes room for it.
      const pub = await connectPublisher(url('key1'), { localAddress: '127.0.0.3' });
      await until('the attacker\'s oldest connection closed', () => held[0].closeReason !== null, 5000);
      assert.deepEqual(held.slice(1).map((c) => c.closeReason), [null, null, null], 'only one attacker connection was closed');
      assert.equal(rtmp.stats().publishers, 1);
      // A second newcomer from the same address as the first: the attacker still holds more, so again it pays.
      const pub2 = await connectPublisher(url('key2'), { localAddress: '127.0.0.3' });
      await until('a second attacker connection closed', () => held.filter((c) => c.closeReason !== null).length === 2, 5000);
      await Promise.all([...held, pub, pub2].map((c) => c.close()));
      await until('slots freed', () => rtmp.connectionCount === 0);
    });
  });

  test('item 5: a loopback client of the public port is an outside client; only the internal listener is ours', { timeout: 30_000 }, async () => {
    await withServer({ maxConnectionsPerAddress: 2 }, acceptAll(), async (rtmp, url) => {
      const outside = await Promise.all([1, 2].map(() => RtmpClient.open(url())));
      await assert.rejects(RtmpClient.open(url()), /closed during the handshake|ECONNRESET/, '127.0.0.1 on the public port has the per-address cap');
      assert.equal(rtmp.stats().internal, 0);
      await new Promise<void>((r) => rtmp.internalNetServer.listen(0, '127.0.0.1', r));
      const ip = (rtmp.internalNetServer.address() as net.AddressInfo).port;
      const ours = await connectPublisher(`rtmp://127.0.0.1:${ip}/live/ingest`);
      assert.equal(rtmp.stats().internal, 1, 'the internal listener\'s connection is counted apart');
      await Promise.all([...outside, ours].map((c) => c.close()));
      await until('slots freed', () => rtmp.connectionCount === 0);
    });
  });

  test('item 5: connections per address', { timeout: 30_000 }, async () => {
    await withServer({ maxConnectionsPerAddress: 3, internal: () => false }, acceptAll(), async (rtmp, url) => {
      const a = await Promise.all([1, 2, 3].map(() => RtmpClient.open(url(), { localAddress: '127.0.0.3' })));
      await assert.rejects(RtmpClient.open(url(), { localAddress: '127.0.0.3' }), /closed during the handshake|ECONNRESET/);
      const other = await RtmpClient.open(url(), { localAddress: '127.0.0.4' });
      assert.equal(rtmp.connectionCount, 4);
      await a[0].close();
      await until('slot freed', () => rtmp.connectionCount === 3);
      const again = await RtmpClient.open(url(), { localAddress: '127.0.0.3' });
      await Promise.all([...a, other, again].map((c) => c.close()));
    });
  });

  test('item 6: a client that sends small unknown commands and never reads: replies do not pile up', { timeout: 60_000 }, async () => {
    const opts = { maxMessagesPerSecond: 0, idleTimeoutMs: 0 };
    await withServer(opts, acceptAll(), async (rtmp, url) => {
      const server = serverSockets(rtmp);
      const call = (txn: number) =>
        encodeMessage({ csid: CLIENT_CSID.Command, type: MessageType.CommandAmf0, streamId: 0, timestamp: 0, payload: encodeAmf0('nosuch', txn, null) }, 4096);
      const burst = Buffer.concat(Array.from({ length: 1000 }, (_, i) => call(i + 2)));
      const spam = async (c: RtmpClient, bytes: number) => {
        let maxUnsent = 0;
        for (let sent = 0; sent < bytes && c.closeReason === null; sent += burst.length) {
          c.socket.write(burst);
          if (c.socket.writableLength > 4 * MiB) await sleep(20); // the server stopped reading: do not grow here either
          maxUnsent = Math.max(maxUnsent, server.unsent());
          await new Promise((r) => setImmediate(r));
        }
        await sleep(300);
        return Math.max(maxUnsent, server.unsent());
      };

      // Before publish/play: closed once its replies and partial messages pass 256 KiB.
      const before = await RtmpClient.open(url());
      await before.connect();
      before.pause();
      const unsentBefore = await spam(before, 10 * MiB);
      await Promise.race([before.closed, sleep(5000)]);
      assert.notEqual(before.closeReason, null, 'closed');
      assert.ok(unsentBefore < 2 * MiB, `${(unsentBefore / MiB).toFixed(1)} MiB waited to be sent`);

      // After publish: reading stops while more than 1 MiB waits; nothing is lost, the connection stays.
      const pub = await connectPublisher(url('k'));
      pub.pause();
      const unsentAfter = await spam(pub, 10 * MiB);
      assert.ok(unsentAfter < 3 * MiB, `${(unsentAfter / MiB).toFixed(1)} MiB waited to be sent`);
      assert.equal(pub.closeReason, null);
      assert.equal(server.open(), 1);
      assert.equal(rtmp.stats().unsentBytes, server.unsent(), 'stats() counts the same');
      await pub.close();
    });
  });

  test('item 7: partial messages: bounded per connection before publish and for all connections together, given back on close', { timeout: 30_000 }, async () => {
    const opts = { maxBufferBeforeAuth: 256 * 1024, maxBufferTotal: 512 * 1024, idleTimeoutMs: 0 };
    await withServer(opts, acceptAll(), async (rtmp, url) => {
      // Set Chunk Size 64 KiB, then on `streams` chunk streams the first 64 KiB chunk of an 8 MiB video message.
      const partials = (streams: number) =>
        Buffer.concat([
          encodeMessage({ csid: 2, type: MessageType.SetChunkSize, streamId: 0, timestamp: 0, payload: Buffer.from([0, 1, 0, 0]) }, 128),
          ...Array.from({ length: streams }, (_, i) =>
            encodeMessage({ csid: 4 + i, type: MessageType.Video, streamId: 1, timestamp: 0, payload: Buffer.alloc(8 * MiB) }, 65536).subarray(0, 12 + 65536),
          ),
        ]);
      // One connection, 63 streams: 4 MiB held for 4 MiB sent, before anything was allowed. Closed at 256 KiB.
      const greedy = await RtmpClient.open(url(), { chunkSize: 128 });
      greedy.write(partials(63));
      await Promise.race([greedy.closed, sleep(5000)]);
      assert.notEqual(greedy.closeReason, null, 'closed');
      await until('its bytes given back', () => rtmp.stats().assemblingBytes === 0);
      // Publishers may hold more each (3 x 64 KiB received, up to twice that allocated as the buffers grow), but all
      // together no more than 512 KiB: the first stays, a later one that would pass the total is closed.
      const pubs = await Promise.all([1, 2, 3].map((k) => connectPublisher(url(`k${k}`), { chunkSize: 128 })));
      let most = 0;
      for (const p of pubs) {
        p.write(partials(3));
        for (let i = 0; i < 10; i++) {
          await sleep(20);
          most = Math.max(most, rtmp.stats().assemblingBytes);
        }
      }
      await until('one closed', () => pubs.some((p) => p.closeReason !== null));
      assert.equal(pubs[0].closeReason, null, 'the first publisher stays');
      assert.ok(most >= 3 * 65536, `publishers held ${most} bytes: the first one's partial messages at least`);
      assert.ok(most <= 512 * 1024, `${most} bytes held`);
      await Promise.all(pubs.map((p) => p.close()));
      await until('all given back', () => rtmp.stats().assemblingBytes === 0 && rtmp.connectionCount === 0);
    });
  });

  test('item 12: peer strings reach the logs cut short', { timeout: 30_000 }, async () => {
    const lines: string[] = [];
    const log: RtmpLog = {
      info: (o, m) => void lines.push(JSON.stringify({ ...o, m })),
      warn: (o, m) => void lines.push(JSON.stringify({ ...o, m })),
      debug: (o, m) => void lines.push(JSON.stringify({ ...o, m })),
      error: (o, m) => void lines.push(JSON.stringify({ ...o, m })),
    };
    const hub = new Hub();
    const registry = await StreamRegistry.open(null);
    await withServer({ log }, rtmpRelay({ hub, registry, publishAuth: 'key', log }), async (_rtmp, url) => {
      // An application name of 60 000 characters: refused, and logged.
      const a = await RtmpClient.open(url());
      await assert.rejects(a.connect({ app: 'x'.repeat(60_000) }), /Unknown application "x{64}\.\.\.\(60000 chars\)"/);
      // A 60 000-character command name before connect: a protocol error, logged.
      const b = await RtmpClient.open(url());
      b.command(0, 'A'.repeat(60_000));
      await Promise.race([b.closed, sleep(5000)]);
      // An 8 MiB app: refused at the message header.
      const c = await RtmpClient.open(url());
      await assert.rejects(c.connect({ app: 'y'.repeat(8 * MiB) }), /closed/);
      await sleep(200);
    });
    hub.close();
    assert.ok(lines.length >= 3, `${lines.length} log lines`);
    for (const line of lines) assert.ok(line.length < 1000, `a log line of ${line.length} characters: ${line.slice(0, 200)}`);
  });
});
