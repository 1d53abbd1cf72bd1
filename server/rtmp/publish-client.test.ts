import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeMessage } from './chunk';
import { RtmpProtocolError } from './errors';
import { MessageType, UserControlEvent, userControl } from './messages';
import { PUBLISH_CHUNK_SIZE, RtmpPublishClient } from './publish-client';
import { CSID, RtmpSession, type Decision } from './session';

/** Our publish client against our own server session, in memory: every byte of both sides goes through the other. */
function pair(decide: { connect?: Decision; publish?: Decision } = {}) {
  const log = {
    published: 0,
    refused: [] as string[],
    media: [] as Array<{ kind: string; timestamp: number; len: number }>,
    metadata: [] as unknown[],
    closedStreams: [] as string[],
    publishName: '',
    app: '',
  };
  const peer: { session?: RtmpSession } = {};
  const client = new RtmpPublishClient(
    { app: 'live2', tcUrl: 'rtmp://example.com/live2', name: 'secret-key?x=1' },
    {
      send: (b) => peer.session!.push(b),
      published: () => log.published++,
      refused: (r) => log.refused.push(r),
    },
  );
  const session = new RtmpSession({
    send: (b) => client.push(b),
    connect: (info) => {
      log.app = info.app;
      return decide.connect ?? { ok: true };
    },
    publish: (req) => {
      log.publishName = req.query ? `${req.name}?${req.query}` : req.name;
      return decide.publish ?? { ok: true };
    },
    play: () => ({ ok: false, code: 'x', description: 'x' }),
    media: (m) => log.media.push({ kind: m.kind, timestamp: m.timestamp, len: m.payload.length }),
    metadata: (m) => log.metadata.push(m.data),
    streamClosed: (_id, role) => log.closedStreams.push(role),
    close: () => undefined,
  });
  peer.session = session;
  return { client, session, log };
}

describe('RtmpPublishClient', () => {
  test('connect, createStream, publish; then metadata and media on the created stream; finish unpublishes', () => {
    const { client, log } = pair();
    client.start();
    assert.equal(client.state, 'live');
    assert.equal(log.published, 1);
    assert.equal(log.app, 'live2');
    assert.equal(log.publishName, 'secret-key?x=1');
    client.metadata({ width: 1280, height: 720 });
    client.media('video', 0, Buffer.from([0x17, 0, 0, 0, 0, 1, 2, 3]));
    client.media('audio', 23, Buffer.alloc(9000, 0xaf)); // more than one 4096-byte chunk
    client.media('video', 0x1000000 + 5, Buffer.from([0x27, 1, 0, 0, 0, 9])); // extended timestamp
    assert.deepEqual(log.metadata, [{ width: 1280, height: 720 }]);
    assert.deepEqual(log.media, [
      { kind: 'video', timestamp: 0, len: 8 },
      { kind: 'audio', timestamp: 23, len: 9000 },
      { kind: 'video', timestamp: 0x1000005, len: 6 },
    ]);
    client.finish();
    assert.deepEqual(log.closedStreams, ['publish']);
    assert.equal(client.state, 'closed');
    client.media('video', 100, Buffer.from([0x27, 1, 0, 0, 0]));
    assert.equal(log.media.length, 3, 'nothing is sent after finish');
  });

  test("a refused connect or publish is reported once with the server's code and description", () => {
    const a = pair({ connect: { ok: false, code: 'NetConnection.Connect.Rejected', description: 'Unknown application' } });
    a.client.start();
    assert.deepEqual(a.log.refused, ['connect refused: NetConnection.Connect.Rejected (Unknown application)']);
    assert.equal(a.log.published, 0);

    const b = pair({ publish: { ok: false, code: 'NetStream.Publish.Unauthorized', description: 'bad key\u0000\u001b[31m' } });
    b.client.start();
    assert.equal(b.log.refused.length, 1);
    assert.match(b.log.refused[0], /^publish refused: NetStream\.Publish\.Unauthorized \(bad key\?\?\[31m\)$/);
    assert.equal(b.client.state, 'closed');

    // A server that echoes the stream name (the platform's key) in its refusal: the key is taken out.
    const c = pair({ publish: { ok: false, code: 'NetStream.Publish.BadName', description: 'secret-key is already publishing' } });
    c.client.start();
    assert.deepEqual(c.log.refused, ['publish refused: NetStream.Publish.BadName (•••• is already publishing)']);
  });

  test('answers pings and acknowledges the window; garbage from the server throws a protocol error', () => {
    const sent: Buffer[] = [];
    const client = new RtmpPublishClient({ app: 'a', tcUrl: 'rtmp://h/a', name: 'k' }, { send: (b) => sent.push(b), published: () => undefined, refused: () => undefined });
    client.start();
    sent.length = 0;
    client.push(encodeMessage({ csid: 2, type: MessageType.UserControl, streamId: 0, timestamp: 0, payload: userControl(UserControlEvent.PingRequest, 77) }, 128));
    assert.equal(sent.length, 1);
    assert.equal(sent[0].readUInt16BE(12), UserControlEvent.PingResponse);
    assert.equal(sent[0].readUInt32BE(14), 77);
    // A message far bigger than any reply a publisher needs.
    const huge = Buffer.alloc(12);
    huge[0] = 0x03;
    huge.writeUIntBE(10 * 1024 * 1024, 4, 3);
    huge[7] = MessageType.CommandAmf0;
    assert.throws(() => client.push(huge), RtmpProtocolError);
    const c2 = new RtmpPublishClient({ app: 'a', tcUrl: 'rtmp://h/a', name: 'k' }, { send: () => undefined, published: () => undefined, refused: () => undefined });
    c2.start();
    assert.throws(() => c2.push(Buffer.from([0xc5, 1, 2, 3])), RtmpProtocolError); // fmt 3 on an unknown chunk stream
  });

  test('one body sent by two clients at the same timestamp is encoded once; the bytes are what one client alone sends', () => {
    const a = pair();
    const b = pair();
    a.client.start();
    b.client.start();
    const outA: Buffer[] = [];
    const outB: Buffer[] = [];
    const tap = (c: RtmpPublishClient, out: Buffer[]) => {
      const hooks = (c as unknown as { hooks: { send: (x: Buffer) => void } }).hooks;
      const send = hooks.send;
      hooks.send = (x) => {
        out.push(x);
        send(x);
      };
    };
    tap(a.client, outA);
    tap(b.client, outB);
    const body = Buffer.alloc(9000, 0x17);
    a.client.media('video', 40, body);
    b.client.media('video', 40, body);
    assert.equal(outA[0], outB[0], 'the same Buffer: encoded once');
    assert.deepEqual(outA[0], encodeMessage({ csid: CSID.Video, type: MessageType.Video, streamId: 1, timestamp: 40, payload: body }, PUBLISH_CHUNK_SIZE));
    // Another timestamp (a target that joined later) is encoded anew, and still right at the other end.
    b.client.media('video', 7, body);
    assert.notEqual(outB[1], outA[0]);
    assert.deepEqual(b.log.media.map((m) => m.timestamp), [40, 7]);
    assert.deepEqual(a.log.media.map((m) => m.timestamp), [40]);
  });
});

