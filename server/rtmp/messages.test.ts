import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MessageType,
  UserControlEvent,
  PeerBandwidthLimit,
  setChunkSize,
  abort,
  acknowledgement,
  windowAckSize,
  setPeerBandwidth,
  userControl,
  parseUserControl,
  parseUint32,
  splitAggregate,
} from './messages';
import { RtmpProtocolError } from './errors';

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

test('message type and user control event constants', () => {
  assert.deepEqual(
    [MessageType.SetChunkSize, MessageType.Abort, MessageType.Acknowledgement, MessageType.UserControl,
      MessageType.WindowAckSize, MessageType.SetPeerBandwidth, MessageType.Audio, MessageType.Video],
    [1, 2, 3, 4, 5, 6, 8, 9],
  );
  assert.deepEqual(
    [MessageType.DataAmf3, MessageType.SharedObjectAmf3, MessageType.CommandAmf3, MessageType.DataAmf0,
      MessageType.SharedObjectAmf0, MessageType.CommandAmf0, MessageType.Aggregate],
    [15, 16, 17, 18, 19, 20, 22],
  );
  assert.deepEqual(
    [UserControlEvent.StreamBegin, UserControlEvent.StreamEOF, UserControlEvent.StreamDry, UserControlEvent.SetBufferLength,
      UserControlEvent.StreamIsRecorded, UserControlEvent.PingRequest, UserControlEvent.PingResponse],
    [0, 1, 2, 3, 4, 6, 7],
  );
});

test('protocol control payload builders', () => {
  assert.deepEqual(setChunkSize(4096), hex('00001000'));
  assert.deepEqual(setChunkSize(0x7fffffff), hex('7fffffff'));
  assert.throws(() => setChunkSize(0), RtmpProtocolError);
  assert.throws(() => setChunkSize(0x80000000), RtmpProtocolError);
  assert.deepEqual(abort(6), hex('00000006'));
  assert.deepEqual(acknowledgement(2_500_000), hex('002625a0'));
  assert.deepEqual(acknowledgement(2 ** 32 + 7), hex('00000007'));
  assert.deepEqual(windowAckSize(2_500_000), hex('002625a0'));
  assert.deepEqual(setPeerBandwidth(2_500_000, PeerBandwidthLimit.Dynamic), hex('002625a0 02'));
  assert.deepEqual(setPeerBandwidth(5_000_000, PeerBandwidthLimit.Hard), hex('004c4b40 00'));
  assert.throws(() => setPeerBandwidth(1, 3), RtmpProtocolError);
  assert.throws(() => windowAckSize(-1), RtmpProtocolError);
});

test('user control builder and parser', () => {
  assert.deepEqual(userControl(UserControlEvent.StreamBegin, 1), hex('0000 00000001'));
  assert.deepEqual(userControl(UserControlEvent.SetBufferLength, 1, 3000), hex('0003 00000001 00000bb8'));
  assert.deepEqual(userControl(UserControlEvent.PingRequest, 0xdeadbeef), hex('0006 deadbeef'));
  assert.deepEqual(parseUserControl(hex('0000 00000001')), { event: 0, value: 1 });
  assert.deepEqual(parseUserControl(hex('0003 00000001 00000bb8')), { event: 3, value: 1, extra: 3000 });
  assert.deepEqual(parseUserControl(hex('0007 deadbeef')), { event: 7, value: 0xdeadbeef });
  assert.throws(() => parseUserControl(hex('0006 0000')), RtmpProtocolError);
  assert.throws(() => parseUserControl(hex('00')), RtmpProtocolError);
  assert.throws(() => userControl(0x10000), RtmpProtocolError);
});

test('parseUint32', () => {
  assert.equal(parseUint32(hex('00001000')), 4096);
  assert.equal(parseUint32(hex('ffffffff 02')), 0xffffffff);
  assert.throws(() => parseUint32(hex('000010')), RtmpProtocolError);
  assert.throws(() => parseUint32(Buffer.alloc(0)), RtmpProtocolError);
});

/** FLV-tag-like sub-message: header, body, back pointer. */
function sub(type: number, ts: number, body: Buffer, streamId = 0, backPointer = true): Buffer {
  const h = Buffer.alloc(11);
  h[0] = type;
  h.writeUIntBE(body.length, 1, 3);
  h.writeUIntBE(ts & 0xffffff, 4, 3);
  h[7] = ts >>> 24;
  h.writeUIntBE(streamId, 8, 3);
  const bp = Buffer.alloc(4);
  bp.writeUInt32BE(11 + body.length, 0);
  return Buffer.concat(backPointer ? [h, body, bp] : [h, body]);
}

test('splitAggregate rebases timestamps on the first sub-message', () => {
  const agg = Buffer.concat([
    sub(9, 1000, hex('1701000000aa')),
    sub(8, 1010, hex('af01bb')),
    sub(9, 1033, hex('2701000000cc')),
  ]);
  const parts = splitAggregate(agg, 5000);
  assert.deepEqual(
    parts.map((p) => [p.type, p.timestamp, p.streamId, p.payload.toString('hex')]),
    [
      [9, 5000, 0, '1701000000aa'],
      [8, 5010, 0, 'af01bb'],
      [9, 5033, 0, '2701000000cc'],
    ],
  );
  assert.equal(parts[0].payload.buffer, agg.buffer);
});

test('splitAggregate: extended timestamp byte, wrap-around, missing final back pointer, errors', () => {
  const agg = Buffer.concat([sub(9, 0x01000000, hex('01')), sub(9, 0x01000010, hex('02'), 1, false)]);
  assert.deepEqual(
    splitAggregate(agg, 0xfffffff8).map((p) => [p.timestamp, p.streamId]),
    [[0xfffffff8, 0], [0x8, 1]],
  );
  assert.deepEqual(splitAggregate(Buffer.alloc(0), 10), []);
  const good = sub(9, 0, hex('010203'));
  assert.throws(() => splitAggregate(good.subarray(0, 10), 0), RtmpProtocolError);
  assert.throws(() => splitAggregate(good.subarray(0, 13), 0), RtmpProtocolError);
  assert.throws(() => splitAggregate(good.subarray(0, 16), 0), RtmpProtocolError);
  assert.equal(splitAggregate(good.subarray(0, 14), 0).length, 1);
});
