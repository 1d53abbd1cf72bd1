/**
 * The relay's players, on a fake connection: what they are written, and what of it is shared between players.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseVideoTag, type MediaPacket } from '../codec/flv';
import { Hub } from '../media/hub';
import { StreamRegistry } from '../media/registry';
import { decodeAmf0 } from '../rtmp/amf0';
import { ChunkReader, type RtmpMessage } from '../rtmp/chunk';
import { MessageType } from '../rtmp/messages';
import type { RtmpConnection } from '../rtmp/server';
import { RtmpSession } from '../rtmp/session';
import { rtmpRelay, sharedEncoding } from './rtmp';

const log = { info() {}, warn() {}, debug() {}, error() {} };

function fakeConnection(id: number) {
  const writes: Buffer[] = [];
  const session = new RtmpSession({
    send: (b) => writes.push(b),
    connect: () => ({ ok: true }),
    publish: () => ({ ok: true }),
    play: () => ({ ok: true }),
    media: () => undefined,
    metadata: () => undefined,
    streamClosed: () => undefined,
    close: () => undefined,
  });
  const conn: RtmpConnection = {
    id,
    remote: 'test',
    session,
    write: (b) => writes.push(b),
    corked: (fn) => fn(),
    bufferedBytes: () => 0,
    close: () => undefined,
  };
  return { conn, writes };
}

/** A video tag body: keyframe or not, H.264 NALU packet, `size` bytes. */
function frame(keyframe: boolean, size: number, fill: number): Buffer {
  const b = Buffer.alloc(size, fill);
  b[0] = keyframe ? 0x17 : 0x27;
  b[1] = 1;
  b.writeUIntBE(0, 2, 3);
  return b;
}

/** Is `b` a view into the memory of `of`? */
const within = (b: Buffer, of: Buffer) => b.buffer === of.buffer && b.byteOffset >= of.byteOffset && b.byteOffset < of.byteOffset + of.length;

function messages(writes: Buffer[]): RtmpMessage[] {
  const reader = new ChunkReader({ maxMessageSize: 16 * 1024 * 1024 });
  // A connected session has announced its chunk size (60 000) before: Set Chunk Size first.
  return reader.push(Buffer.concat([Buffer.from([0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0xea, 0x60]), ...writes]));
}

test('players on message stream 2 share the GOP and the metadata encodings with stream 1 (issue 14 item 8)', async () => {
  const hub = new Hub();
  const registry = await StreamRegistry.open(null);
  const relay = rtmpRelay({ hub, registry, publishAuth: 'none', log, flushMs: 0 });
  const pub = hub.publish('s', { kind: 'test', drop: () => undefined });
  pub.metadata({ width: 640, height: 360, encoder: 'test' });
  const gop: MediaPacket[] = [];
  for (let i = 0; i < 20; i++) {
    const p = parseVideoTag(frame(i === 0, 50_000, i), i * 40, 0);
    gop.push(p);
    pub.packet(p);
  }

  const players = [1, 2, 2].map((streamId, n) => {
    const f = fakeConnection(n + 1);
    const handler = relay(f.conn);
    handler.play({ streamId, name: 's', query: '' });
    return { ...f, streamId };
  });
  await new Promise((r) => setImmediate(r)); // the relay subscribes in a microtask, after the reply to play
  const live = parseVideoTag(frame(false, 50_000, 99), 20 * 40, 0);
  gop.push(live);
  pub.packet(live);

  const shared = gop.map((p) => sharedEncoding(p));
  for (const { writes, streamId } of players) {
    const privateBytes = writes.filter((b) => !shared.some((s) => within(b, s))).reduce((n, b) => n + b.length, 0);
    // Headers of their own (at most 18 bytes a message) and the small metadata; never a copy of the frames.
    assert.ok(privateBytes < 21 * 18 + 1024, `player on stream ${streamId}: ${privateBytes} bytes of its own`);
    const got = messages(writes);
    const video = got.filter((m) => m.type === MessageType.Video);
    assert.equal(video.length, 21);
    for (let i = 0; i < video.length; i++) {
      assert.equal(video[i].streamId, streamId);
      assert.ok(video[i].payload.equals(gop[i].flv), `frame ${i} intact`);
    }
    const meta = got.filter((m) => m.type === MessageType.DataAmf0).map((m) => decodeAmf0(m.payload));
    assert.deepEqual(meta, [['onMetaData', { width: 640, height: 360, encoder: 'test' }]]);
  }
  // The two stream-2 players' metadata: views of one encoding.
  const metaOf = (writes: Buffer[]) => writes.find((b) => b.includes(Buffer.from('onMetaData')))!;
  const a = metaOf(players[1].writes);
  const b = metaOf(players[2].writes);
  assert.ok(a.buffer === b.buffer && a.byteOffset === b.byteOffset, 'one metadata encoding for every player');
  hub.close();
});
