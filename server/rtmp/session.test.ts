/**
 * RtmpSession against the command sequences of real clients, in the order `npm run interop` sees
 * them (docs/interop.md; transaction ids numbered as librtmp and libavformat do): what each sends
 * after the handshake, and the replies it relies on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeAmf0, decodeAmf0Command, encodeAmf0, type Amf0Value } from './amf0';
import { ChunkReader, encodeMessage } from './chunk';
import { MessageType, setChunkSize, userControl, windowAckSize } from './messages';
import { RtmpProtocolError } from './errors';
import { RtmpSession, type SessionHooks, type SessionLimits } from './session';

type Reply = { name: string; txn?: number; streamId: number; args: Amf0Value[] };

function harness(limits?: Partial<SessionLimits>) {
  const reader = new ChunkReader();
  const replies: Reply[] = [];
  const calls: string[] = [];
  const hooks: SessionHooks = {
    send(bytes) {
      for (const m of reader.push(bytes)) {
        if (m.type === MessageType.CommandAmf0) {
          const c = decodeAmf0Command(m.payload);
          replies.push({ name: c.name, txn: c.transactionId, streamId: m.streamId, args: [c.commandObject, ...c.args] });
        } else if (m.type === MessageType.DataAmf0) {
          replies.push({ name: String(decodeAmf0(m.payload)[0]), streamId: m.streamId, args: [] });
        } else {
          replies.push({ name: `control:${m.type}`, streamId: m.streamId, args: [] });
        }
      }
    },
    connect: (info) => (calls.push(`connect ${info.app}`), { ok: true }),
    publish: (r) => (calls.push(`publish ${r.streamId} ${r.name} ${r.type}`), { ok: true }),
    play: (r) => (calls.push(`play ${r.streamId} ${r.name}`), { ok: true }),
    media: (m) => void calls.push(`media ${m.kind}`),
    metadata: () => void calls.push('metadata'),
    streamClosed: (id, role) => void calls.push(`closed ${id} ${role}`),
    close: (reason) => void calls.push(`close ${reason}`),
  };
  const session = new RtmpSession(hooks, limits);
  let chunkSize = 128;
  const send = (csid: number, type: number, streamId: number, payload: Buffer) => {
    session.push(encodeMessage({ csid, type, streamId, timestamp: 0, payload }, chunkSize));
    if (type === MessageType.SetChunkSize) chunkSize = payload.readUInt32BE(0);
  };
  const command = (streamId: number, ...values: Amf0Value[]) => send(3, MessageType.CommandAmf0, streamId, encodeAmf0(...values));
  /** Replies since the last call. */
  const take = () => replies.splice(0);
  return { session, send, command, take, calls };
}

const status = (r: Reply) => (r.args[1] as { code?: string } | undefined)?.code;

describe('RtmpSession with the command sequences of real clients', () => {
  test('OBS Studio 29 (its librtmp): releaseStream, FCPublish, createStream, publish, FCUnpublish, deleteStream', () => {
    const h = harness();
    const key = 'abc123_secret';
    h.send(2, MessageType.SetChunkSize, 0, setChunkSize(4096));
    h.command(0, 'connect', 1, {
      app: 'live', type: 'nonprivate', flashVer: 'FMLE/3.0 (compatible; FMSc/1.0)', swfUrl: 'rtmp://127.0.0.1:1935/live', tcUrl: 'rtmp://127.0.0.1:1935/live',
    });
    const connect = h.take();
    assert.deepEqual(connect.map((r) => r.name), ['control:5', 'control:6', 'control:1', '_result']);
    assert.equal(connect[3].txn, 1);
    assert.equal(status(connect[3]), 'NetConnection.Connect.Success');

    h.command(0, 'releaseStream', 2, null, key);
    h.command(0, 'FCPublish', 3, null, key);
    h.command(0, 'createStream', 4, null);
    const pre = h.take();
    // Every numbered call gets its _result (librtmp keeps unanswered calls pending), FCPublish also onFCPublish.
    assert.deepEqual(pre.map((r) => [r.name, r.txn]), [['_result', 2], ['_result', 3], ['onFCPublish', 0], ['_result', 4]]);
    assert.equal(pre[3].args[1], 1, 'createStream returns message stream 1');

    h.command(1, 'publish', 5, null, key, 'live');
    const pub = h.take();
    assert.deepEqual(pub.map((r) => r.name), ['control:4', 'onStatus']);
    assert.equal(status(pub[1]), 'NetStream.Publish.Start');
    assert.equal(pub[1].streamId, 1);
    h.send(4, MessageType.DataAmf0, 1, encodeAmf0('@setDataFrame', 'onMetaData', { width: 640, height: 360, videocodecid: 7, audiocodecid: 10 }));

    h.command(0, 'FCUnpublish', 6, null, key);
    h.command(0, 'deleteStream', 7, null, 1);
    const stop = h.take();
    assert.deepEqual(stop.map((r) => r.name), ['onStatus', '_result']);
    assert.equal(status(stop[0]), 'NetStream.Unpublish.Success');
    assert.equal(stop[1].txn, 6);
    assert.deepEqual(h.calls, ['connect live', `publish 1 ${key} live`, 'metadata', 'closed 1 publish']);
  });

  test('VLC 3 (libavformat RTMP): getStreamLength before play, then a buffer-length user control', () => {
    const h = harness();
    h.command(0, 'connect', 1, { app: 'live', flashVer: 'LNX 9,0,124,2', tcUrl: 'rtmp://127.0.0.1:1935/live', fpad: false, capabilities: 15, audioCodecs: 4071, videoCodecs: 252, videoFunction: 1 });
    h.send(2, MessageType.WindowAckSize, 0, windowAckSize(2500000));
    h.command(0, 'createStream', 2, null);
    h.command(0, 'getStreamLength', 3, null, 'abc');
    h.command(1, 'play', 4, null, 'abc', -1000);
    h.send(2, MessageType.UserControl, 0, userControl(3, 1, 3000)); // SetBufferLength
    // Without the connect's window/bandwidth/chunk size messages (checked in the OBS case).
    const r = h.take().filter((x) => !['control:1', 'control:5', 'control:6'].includes(x.name));
    assert.deepEqual(r.map((x) => [x.name, x.txn]), [
      ['_result', 1], ['_result', 2], ['_result', 3], ['control:4', undefined], ['control:4', undefined],
      ['onStatus', 0], ['onStatus', 0], ['|RtmpSampleAccess', undefined],
    ]);
    assert.equal(r[2].args[1], 0, 'getStreamLength: 0 (live)');
    assert.deepEqual([status(r[5]), status(r[6])], ['NetStream.Play.Reset', 'NetStream.Play.Start']);
    assert.deepEqual(h.calls, ['connect live', 'play 1 abc']);
  });
});

describe('RtmpSession limits (issue 14)', () => {
  const publishing = (limits?: Partial<SessionLimits>) => {
    const h = harness(limits);
    h.command(0, 'connect', 1, { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' });
    h.command(0, 'createStream', 2, null);
    h.command(1, 'publish', 3, null, 'key', 'live');
    h.take();
    h.calls.length = 0;
    return h;
  };

  test('messages per second: bursts of two seconds are fine, a flood gets an onStatus error and the connection closed', () => {
    let now = 1_000_000;
    const h = publishing({ maxMessagesPerSecond: 100, now: () => now });
    // 100 a second for 20 s (and the burst allowance once): never over.
    for (let i = 0; i < 2000; i++) {
      h.send(4, MessageType.Audio, 1, Buffer.from([0xaf, 1, i & 0xff]));
      now += 10;
    }
    assert.equal(h.calls.filter((c) => c.startsWith('close')).length, 0);
    assert.equal(h.calls.length, 2000);
    // Then 1000 at once: the bucket (200 messages) runs dry.
    for (let i = 0; i < 1000; i++) h.send(4, MessageType.Audio, 1, Buffer.from([0xaf, 1, i & 0xff]));
    assert.deepEqual(h.calls.filter((c) => c.startsWith('close')), ['close message rate over 100/s']);
    assert.ok(h.calls.filter((c) => c.startsWith('media')).length < 2000 + 220, 'the excess is not relayed');
    const status = h.take().find((r) => r.name === 'onStatus');
    assert.deepEqual(status?.args[1], { level: 'error', code: 'NetConnection.Connect.Closed', description: 'Too many messages: over 100 a second.' });
  });

  test('metadata: a reference bomb and an oversized one are ignored, a normal one goes through', () => {
    const h = publishing({ maxMetadataBytes: 4096 });
    // {a: [24 levels of objects, each referring twice to the one before]}: ~400 bytes, 2^24 objects expanded.
    const levels = 24;
    const parts: Buffer[] = [encodeAmf0('@setDataFrame', 'onMetaData'), Buffer.from('03000161', 'hex'), Buffer.from([0x0a, 0, 0, 0, levels])];
    parts.push(Buffer.from('03000176000000000000000000000009', 'hex'));
    // Ref 0 is the outer object, ref 1 the array, ref k+2 its k-th object: object i refers to ref i+1.
    const ref = (i: number) => (i + 1).toString(16).padStart(4, '0');
    for (let i = 1; i < levels; i++) parts.push(Buffer.from(`03000178 07${ref(i)} 000179 07${ref(i)} 000009`.replace(/ /g, ''), 'hex'));
    parts.push(Buffer.from('000009', 'hex'));
    const bomb = Buffer.concat(parts);
    assert.ok(bomb.length < 1024);
    assert.doesNotThrow(() => h.send(4, MessageType.DataAmf0, 1, bomb));
    h.send(4, MessageType.DataAmf0, 1, encodeAmf0('@setDataFrame', 'onMetaData', { encoder: 'x'.repeat(5000) }));
    assert.deepEqual(h.calls, [], 'neither reached the hooks');
    assert.equal(h.session.droppedMetadata, 2);
    h.send(4, MessageType.DataAmf0, 1, encodeAmf0('@setDataFrame', 'onMetaData', { width: 640, height: 360 }));
    assert.deepEqual(h.calls, ['metadata']);
  });

  test('peer strings in error messages are cut short', () => {
    const h = harness();
    const name = 'A'.repeat(60_000);
    assert.throws(
      () => h.command(0, name, 1, null),
      (err: unknown) => err instanceof RtmpProtocolError && err.message.length < 200 && err.message.includes('(60000 chars)'),
    );
    const h2 = harness();
    h2.command(0, 'connect', 1, { app: 'live' });
    h2.take();
    h2.command(0, 'B'.repeat(60_000), 2, null);
    const reply = h2.take().find((r) => r.name === '_error');
    const description = String((reply?.args[1] as { description?: string }).description);
    assert.ok(description.length < 200, `${description.length} chars`);
  });

  test('assembly bytes: low before publish or play, higher after', () => {
    const before = harness({ maxAssemblyBytes: 64 * 1024, maxAssemblyBytesAuthorized: 1024 * 1024 });
    before.send(2, MessageType.SetChunkSize, 0, setChunkSize(65536));
    const big = (h: ReturnType<typeof harness>, csid: number) =>
      h.session.push(Buffer.concat([encodeMessage({ csid, type: MessageType.Video, streamId: 1, timestamp: 0, payload: Buffer.alloc(200_000) }, 65536).subarray(0, 12 + 65536)]));
    big(before, 6);
    assert.throws(() => big(before, 7), /over the limit of 65536/);
    const after = publishing({ maxAssemblyBytes: 64 * 1024, maxAssemblyBytesAuthorized: 1024 * 1024 });
    after.send(2, MessageType.SetChunkSize, 0, setChunkSize(65536));
    for (const csid of [6, 7, 8, 9]) big(after, csid);
    assert.equal(after.session.assemblingBytes, 4 * 65536);
  });
});
