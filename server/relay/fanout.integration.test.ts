/**
 * Batched writes to RTMP players (fanout.ts) over real sockets, in this process: the relay, the
 * hub and the RTMP listener without HTTP or HLS, our own test client as publisher and players.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, describe, test } from 'node:test';
import { Hub, type HubOptions } from '../media/hub';
import { StreamRegistry } from '../media/registry';
import { MessageType } from '../rtmp/messages';
import { RtmpServer } from '../rtmp/server';
import { connectPlayer, connectPublisher, type RtmpPlayer, type RtmpPublisher } from '../testing/rtmp-client';
import { DEFAULT_FLUSH_MS, DEFAULT_VIDEO_FLUSH_MS } from './fanout';
import { rtmpRelay } from './rtmp';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = { info() {}, warn() {}, debug() {}, error() {} };
/** S0 + S1 + S2: random and clock bytes, different on every connection. */
const HANDSHAKE_BYTES = 1 + 1536 + 1536;

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Recorded {
  chunks: Buffer[];
  /** socket.write calls made while not corked: each is one write to the kernel. */
  writes: number;
  socket: net.Socket;
}

async function startRelay(flushMs: number, hubOptions: Partial<HubOptions> = {}, videoFlushMs?: number) {
  const hub = new Hub(hubOptions);
  const registry = await StreamRegistry.open(null);
  const relay = rtmpRelay({ hub, registry, publishAuth: 'none', log, flushMs, videoFlushMs });
  const rtmp = new RtmpServer({ log }, relay);
  /** What the server wrote to each connection, by the client's port. */
  const sent = new Map<number, Recorded>();
  rtmp.netServer.on('connection', (socket: net.Socket) => {
    const rec: Recorded = { chunks: [], writes: 0, socket };
    sent.set(socket.remotePort ?? 0, rec);
    const write = socket.write;
    socket.write = function (this: net.Socket, chunk: Buffer, ...rest: unknown[]) {
      rec.chunks.push(chunk);
      if (!socket.writableCorked) rec.writes++;
      return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof socket.write;
  });
  await new Promise<void>((r) => rtmp.netServer.listen(0, '127.0.0.1', r));
  const port = (rtmp.netServer.address() as net.AddressInfo).port;
  const url = (name: string) => `rtmp://127.0.0.1:${port}/live/${name}`;
  return {
    hub,
    relay,
    url,
    sentTo: (client: { socket: net.Socket }) => sent.get(client.socket.localPort ?? -1)!,
    async close() {
      hub.close();
      await rtmp.close();
    },
  };
}

const AVC_CONFIG = Buffer.from([0x17, 0x00, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 0]);
const AAC_CONFIG = Buffer.from([0xaf, 0x00, 0x12, 0x10]);
/** An AVC frame whose bytes 5..8 carry its index. */
function frame(i: number, key: boolean, size: number): Buffer {
  const b = Buffer.alloc(size, i & 0xff);
  b[0] = key ? 0x17 : 0x27;
  b[1] = 1;
  b.writeUIntBE(0, 2, 3);
  b.writeUInt32BE(i, 5);
  return b;
}
const aacFrame = (i: number) => Buffer.concat([Buffer.from([0xaf, 0x01]), Buffer.alloc(200 + (i % 50), i & 0xff)]);

/**
 * 2 s of 30 fps video and ~43 fps audio, sent the way ffmpeg interleaves (audio bursts just before
 * video), in uneven steps so that both the end-of-turn flush and the audio timer are used.
 */
async function publishScript(pub: RtmpPublisher): Promise<number> {
  pub.metadata({ width: 320, height: 240, framerate: 30 });
  pub.video(0, AVC_CONFIG);
  pub.audio(0, AAC_CONFIG);
  let messages = 2;
  let a = 0;
  for (let v = 0; v < 60; v++) {
    const t = Math.round((v * 1000) / 30);
    while ((a * 1024 * 1000) / 44100 <= t) {
      pub.audio(Math.round((a * 1024 * 1000) / 44100), aacFrame(a));
      a++;
      messages++;
      if (a % 3 === 0) await sleep(20); // audio alone: the timer flushes it
    }
    pub.video(t, frame(v, v % 15 === 0, v % 15 === 0 ? 70_000 : 3000 + v * 50));
    messages++;
    await sleep(v % 2 ? 3 : 12);
  }
  return messages;
}

describe('RTMP players with batched writes', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  test('the same bytes as one write per message, in far fewer writes', { timeout: 30_000 }, async (t) => {
    const results: Array<{ streams: Buffer[]; writes: number[]; media: number }> = [];
    // Batched (the defaults: 33 ms for all), batched with video at the end of its turn, one write per message.
    for (const [flushMs, videoFlushMs] of [[DEFAULT_FLUSH_MS, DEFAULT_VIDEO_FLUSH_MS], [15, 0], [0, 0]]) {
      const r = await startRelay(flushMs, {}, videoFlushMs);
      cleanups.push(() => r.close());
      const pub = await connectPublisher(r.url('fan'));
      const players: RtmpPlayer[] = [];
      for (let i = 0; i < 3; i++) players.push(await connectPlayer(r.url('fan')));
      await waitFor('3 subscribers', () => r.hub.stats('fan')?.subscribers.rtmp === 3);
      const media = await publishScript(pub);
      await waitFor('every message at every player', () =>
        players.every((p) => p.media.audioMessages + p.media.videoMessages === media),
      );
      await sleep(50);
      results.push({
        media,
        streams: players.map((p) => Buffer.concat(r.sentTo(p).chunks).subarray(HANDSHAKE_BYTES)),
        writes: players.map((p) => r.sentTo(p).writes),
      });
      for (const p of players) p.socket.destroy();
      pub.socket.destroy();
      await waitFor('group released', () => r.relay.fanout.size === 0);
    }
    const [batched, videoAtOnce, plain] = results;
    t.diagnostic(
      `${plain.media} media messages; writes per player: batched ${batched.writes.join(', ')}, ` +
        `video at once ${videoAtOnce.writes.join(', ')}, one per message ${plain.writes.join(', ')}`,
    );
    const reference = plain.streams[0];
    assert.ok(reference.length > 300_000, `only ${reference.length} bytes sent`);
    for (const s of results.flatMap((x) => x.streams)) {
      assert.equal(s.length, reference.length);
      assert.ok(s.equals(reference), 'every player of every server got exactly the same bytes');
    }
    // Without batching: a write per media message (and a few for commands).
    for (const w of plain.writes) assert.ok(w >= plain.media, `${w} writes for ${plain.media} messages`);
    for (const w of [...batched.writes, ...videoAtOnce.writes]) {
      assert.ok(w < plain.writes[0] * 0.75, `batched: ${w} writes, one per message: ${plain.writes[0]}`);
    }
  });

  test('a stalled player is skipped to a keyframe, then disconnected; the others get every frame', { timeout: 40_000 }, async () => {
    const maxBufferedBytes = 256 * 1024;
    const r = await startRelay(15, { maxBufferedBytes, stuckMs: 1500 });
    cleanups.push(() => r.close());
    const pub = await connectPublisher(r.url('slow'));
    /** Video frames a player got, by index; keyframes noted. */
    const track = () => {
      const frames: Array<{ index: number; key: boolean }> = [];
      const onMessage = (m: { type: number; payload: Buffer }) => {
        if (m.type === MessageType.Video && m.payload.length > 9 && m.payload[1] === 1) {
          frames.push({ index: m.payload.readUInt32BE(5), key: m.payload[0] >> 4 === 1 });
        }
      };
      return { frames, onMessage };
    };
    const h = track();
    const st = track();
    const healthy = await connectPlayer(r.url('slow'), { onMessage: h.onMessage });
    const stalled = await connectPlayer(r.url('slow'), { onMessage: st.onMessage, pause: true });
    cleanups.push(() => Promise.all([healthy.close(), stalled.close()]));
    await waitFor('2 subscribers', () => r.hub.stats('slow')?.subscribers.rtmp === 2);
    const onServer = r.sentTo(stalled).socket;
    const dropped = () => r.hub.stats('slow')?.droppedForSlowSubscribers ?? 0;
    let maxQueued = 0;

    pub.video(0, AVC_CONFIG);
    let sent = 0;
    /** ~16 Mbit/s of 64 KB frames, a keyframe every 10, until `done`. */
    const publishUntil = async (done: () => boolean, what: string) => {
      const t0 = Date.now();
      while (!done()) {
        if (Date.now() - t0 > 15_000) throw new Error(`timed out publishing until ${what}`);
        pub.video(sent * 33, frame(sent, sent % 10 === 0, 64 * 1024));
        sent++;
        await sleep(30);
        if (!onServer.destroyed) maxQueued = Math.max(maxQueued, onServer.writableLength);
      }
    };
    // 1. It stops reading: once the server holds more than maxBufferedBytes for it, frames are skipped.
    await publishUntil(() => dropped() > 0, 'frames are skipped');
    assert.ok(maxQueued > maxBufferedBytes / 2, `the stalled socket never backed up (${maxQueued} bytes)`);
    // 2. It reads again: it catches up and resumes on a keyframe.
    stalled.resume();
    const skippedUpTo = sent;
    await publishUntil(() => st.frames.some((f) => f.index >= skippedUpTo), 'the player resumes');
    let expected = 0;
    let gaps = 0;
    for (const f of st.frames) {
      if (f.index !== expected) {
        gaps++;
        assert.ok(f.key, `after a gap (expected frame ${expected}) the player got frame ${f.index}, not a keyframe`);
      }
      expected = f.index + 1;
    }
    assert.ok(gaps >= 1, 'frames were skipped');
    // 3. It stops reading for good: after stuckMs of skipping it is dropped and its socket closed.
    stalled.pause();
    await publishUntil(() => r.hub.stats('slow')?.subscribers.rtmp === 1, 'the stalled player is dropped');
    assert.ok(maxQueued < maxBufferedBytes + 3 * 64 * 1024, `the server queued ${maxQueued} bytes for the stalled player`);
    stalled.resume();
    const reason = await Promise.race([stalled.closed, sleep(5000).then(() => 'still open')]);
    assert.notEqual(reason, 'still open', 'the server closed the stalled connection');

    await waitFor('healthy player has every frame', () => h.frames.length === sent);
    assert.deepEqual(
      h.frames.map((f) => f.index),
      Array.from({ length: sent }, (_, i) => i),
    );
    await healthy.close();
    pub.socket.destroy();
    await waitFor('group released', () => r.relay.fanout.size === 0);
  });

  test('players that leave with a batch pending leave no group or timer behind', { timeout: 20_000 }, async () => {
    const r = await startRelay(2000); // long enough to see the batch pending
    cleanups.push(() => r.close());
    const pub = await connectPublisher(r.url('leave'));
    pub.video(0, AVC_CONFIG);
    pub.audio(0, AAC_CONFIG);
    pub.video(0, frame(0, true, 1000)); // a GOP to start on, so that the players take audio at once
    for (let round = 0; round < 2; round++) {
      const players = await Promise.all(Array.from({ length: 5 }, () => connectPlayer(r.url('leave'))));
      await waitFor('5 subscribers', () => r.hub.stats('leave')?.subscribers.rtmp === 5);
      // Audio only: queued, the flush timer running.
      pub.audio(1000 + round, aacFrame(round));
      await waitFor('batch pending', () => r.relay.fanout.get('leave')?.pending === true);
      const group = r.relay.fanout.get('leave')!;
      assert.equal(group.size, 5);
      for (const p of players) p.socket.destroy();
      await waitFor('players gone', () => (r.hub.stats('leave')?.subscribers.rtmp ?? 0) === 0);
      assert.equal(r.relay.fanout.size, 0, 'the group is gone');
      assert.equal(group.pending, false, 'its flush was cancelled');
    }
    pub.socket.destroy();
  });
});
