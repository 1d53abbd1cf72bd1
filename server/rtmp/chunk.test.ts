import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkReader, encodeMessage, withStreamId, type RtmpMessage } from './chunk';
import { RtmpProtocolError } from './errors';

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** Payload of n bytes with a recognisable pattern. */
function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

function basic(fmt: number, csid: number): Buffer {
  if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
  if (csid < 320) return Buffer.from([fmt << 6, csid - 64]);
  return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
}

function u24(n: number): Buffer {
  const b = Buffer.alloc(3);
  b.writeUIntBE(n, 0, 3);
  return b;
}
function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}
function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/** Hand-built chunk header; `ts` >= 0xFFFFFF writes the marker and extended field. */
function h0(csid: number, ts: number, len: number, type: number, sid: number): Buffer {
  const ext = ts >= 0xffffff;
  return Buffer.concat([
    basic(0, csid),
    u24(ext ? 0xffffff : ts),
    u24(len),
    Buffer.from([type]),
    u32le(sid),
    ext ? u32be(ts) : Buffer.alloc(0),
  ]);
}
function h1(csid: number, delta: number, len: number, type: number): Buffer {
  const ext = delta >= 0xffffff;
  return Buffer.concat([
    basic(1, csid),
    u24(ext ? 0xffffff : delta),
    u24(len),
    Buffer.from([type]),
    ext ? u32be(delta) : Buffer.alloc(0),
  ]);
}
function h2(csid: number, delta: number): Buffer {
  const ext = delta >= 0xffffff;
  return Buffer.concat([basic(2, csid), u24(ext ? 0xffffff : delta), ext ? u32be(delta) : Buffer.alloc(0)]);
}
function h3(csid: number, ext?: number): Buffer {
  return Buffer.concat([basic(3, csid), ext === undefined ? Buffer.alloc(0) : u32be(ext)]);
}

function simplify(msgs: RtmpMessage[]) {
  return msgs.map((m) => ({ ...m, payload: m.payload.toString('hex') }));
}

/** Feeds the stream whole, byte by byte, and in uneven pieces; all must agree. */
function readAllWays(stream: Buffer, limits?: ConstructorParameters<typeof ChunkReader>[0]): RtmpMessage[] {
  const whole = new ChunkReader(limits).push(stream);
  const r1 = new ChunkReader(limits);
  const single: RtmpMessage[] = [];
  for (let i = 0; i < stream.length; i++) single.push(...r1.push(stream.subarray(i, i + 1)));
  assert.deepEqual(simplify(single), simplify(whole), 'byte-at-a-time differs');
  const r2 = new ChunkReader(limits);
  const pieces: RtmpMessage[] = [];
  const sizes = [5, 1, 17, 2, 129, 3, 64, 7];
  for (let i = 0, k = 0; i < stream.length; k++) {
    const n = sizes[k % sizes.length];
    pieces.push(...r2.push(stream.subarray(i, i + n)));
    i += n;
  }
  assert.deepEqual(simplify(pieces), simplify(whole), 'uneven pieces differ');
  assert.equal(r1.bytesReceived, stream.length);
  return whole;
}

test('two interleaved chunk streams', () => {
  const audio = pattern(200, 1);
  const video = pattern(300, 2);
  const stream = Buffer.concat([
    h0(4, 10, 200, 8, 1), audio.subarray(0, 128),
    h0(6, 20, 300, 9, 1), video.subarray(0, 128),
    h3(4), audio.subarray(128),
    h3(6), video.subarray(128, 256),
    h3(6), video.subarray(256),
  ]);
  const msgs = readAllWays(stream);
  assert.equal(msgs.length, 2);
  assert.deepEqual(msgs[0], { csid: 4, type: 8, streamId: 1, timestamp: 10, payload: audio });
  assert.deepEqual(msgs[1], { csid: 6, type: 9, streamId: 1, timestamp: 20, payload: video });
});

test('chunk size change in the middle of the stream applies to following bytes', () => {
  const big = pattern(1000, 3);
  const before = pattern(130, 4);
  const stream = Buffer.concat([
    h0(5, 0, 130, 9, 1), before.subarray(0, 128), h3(5), before.subarray(128),
    h0(2, 0, 4, 1, 0), hex('00001000'), // Set Chunk Size 4096
    h0(5, 40, 1000, 9, 1), big, // one chunk now
    h0(2, 0, 4, 1, 0), hex('00000064'), // Set Chunk Size 100
    h1(5, 40, 250, 9), big.subarray(0, 100), h3(5), big.subarray(100, 200), h3(5), big.subarray(200, 250),
  ]);
  const reader = new ChunkReader();
  assert.equal(reader.chunkSize, 128);
  const msgs = reader.push(stream);
  assert.equal(reader.chunkSize, 100);
  assert.equal(reader.bytesReceived, stream.length);
  assert.deepEqual(
    msgs.map((m) => [m.csid, m.type, m.timestamp, m.payload.length]),
    [[5, 9, 0, 130], [2, 1, 0, 4], [5, 9, 40, 1000], [2, 1, 0, 4], [5, 9, 80, 250]],
  );
  assert.deepEqual(msgs[0].payload, before);
  assert.deepEqual(msgs[1].payload, hex('00001000'));
  assert.deepEqual(msgs[2].payload, big);
  assert.deepEqual(msgs[4].payload, big.subarray(0, 250));
  readAllWays(stream);
});

test('invalid Set Chunk Size values throw', () => {
  for (const v of ['00000000', '80000000', 'ffffffff']) {
    assert.throws(() => new ChunkReader().push(Buffer.concat([h0(2, 0, 4, 1, 0), hex(v)])), RtmpProtocolError, v);
  }
  assert.throws(() => new ChunkReader().push(Buffer.concat([h0(2, 0, 3, 1, 0), hex('000010')])), RtmpProtocolError);
  const over = Buffer.concat([h0(2, 0, 4, 1, 0), u32be(16 * 1024 * 1024 + 1)]);
  assert.throws(() => new ChunkReader().push(over), RtmpProtocolError);
  assert.equal(new ChunkReader({ maxChunkSize: 32 * 1024 * 1024 }).push(over).length, 1);
  const r = new ChunkReader({ maxChunkSize: 0x7fffffff });
  r.push(Buffer.concat([h0(2, 0, 4, 1, 0), u32be(0x7fffffff)]));
  assert.equal(r.chunkSize, 0x7fffffff);
});

test('fmt 1, 2 and 3 headers reuse fields and add deltas', () => {
  const stream = Buffer.concat([
    h0(7, 1000, 3, 9, 1), hex('aabbcc'),
    h1(7, 33, 2, 8), hex('0102'), // new length/type, delta 33
    h2(7, 40), hex('0304'), // same length/type, delta 40
    h3(7), hex('0506'), // new message: everything repeated, delta 40 again
    h3(7), hex('0708'),
  ]);
  const msgs = readAllWays(stream);
  assert.deepEqual(
    msgs.map((m) => [m.type, m.streamId, m.timestamp, m.payload.toString('hex')]),
    [
      [9, 1, 1000, 'aabbcc'],
      [8, 1, 1033, '0102'],
      [8, 1, 1073, '0304'],
      [8, 1, 1113, '0506'],
      [8, 1, 1153, '0708'],
    ],
  );
});

test('fmt 3 new message right after fmt 0 uses the fmt 0 timestamp as delta (ffmpeg writer behaviour)', () => {
  // ffmpeg's rtmppkt.c sends fmt 3 when the new delta equals the previous ts_field,
  // which after a fmt 0 header is the absolute timestamp: 50, then 100.
  const stream = Buffer.concat([h0(4, 50, 1, 8, 1), hex('01'), h3(4), hex('02'), h3(4), hex('03')]);
  assert.deepEqual(readAllWays(stream).map((m) => m.timestamp), [50, 100, 150]);
});

test('extended timestamps, including on fmt 3 continuation chunks', () => {
  const payload = pattern(300, 5);
  const ts = 0x01020304;
  const withExt = Buffer.concat([
    h0(6, ts, 300, 9, 1), payload.subarray(0, 128),
    h3(6, ts), payload.subarray(128, 256),
    h3(6, ts), payload.subarray(256),
  ]);
  const [m] = readAllWays(withExt);
  assert.equal(m.timestamp, ts);
  assert.deepEqual(m.payload, payload);

  // Legacy writers that omit the field on continuation chunks are still read correctly.
  const withoutExt = Buffer.concat([
    h0(6, ts, 300, 9, 1), payload.subarray(0, 128),
    h3(6), payload.subarray(128, 256),
    h3(6), payload.subarray(256),
  ]);
  const [m2] = readAllWays(withoutExt);
  assert.equal(m2.timestamp, ts);
  assert.deepEqual(m2.payload, payload);

  // Exactly 0xFFFFFF needs the extended field too.
  const [m3] = readAllWays(Buffer.concat([h0(3, 0xffffff, 2, 20, 0), hex('0000')]));
  assert.equal(m3.timestamp, 0xffffff);
});

test('fmt 3 starting a new message after an extended header reads its own 4-byte delta', () => {
  const stream = Buffer.concat([
    h0(4, 0x1000000, 2, 8, 1), hex('0102'), // absolute 0x1000000
    h2(4, 0x2000000), hex('0304'), // extended delta
    h3(4, 0x2000000), hex('0506'), // fmt 3 new message: 4-byte field present
    h3(4, 0x3000000), hex('0708'), // ffmpeg may put a different delta there
    h2(4, 5), hex('090a'),
    h3(4), hex('0b0c'), // no longer extended: reuse delta 5
  ]);
  assert.deepEqual(
    readAllWays(stream).map((m) => [m.timestamp, m.payload.toString('hex')]),
    [
      [0x1000000, '0102'],
      [0x3000000, '0304'],
      [0x5000000, '0506'],
      [0x8000000, '0708'],
      [0x8000005, '090a'],
      [0x800000a, '0b0c'],
    ],
  );
});

test('timestamps wrap around 2^32 through deltas', () => {
  const stream = Buffer.concat([
    h0(4, 0xfffffff0, 1, 8, 1), hex('01'),
    h2(4, 0x0f), hex('02'), // 0xFFFFFFFF
    h2(4, 0x21), hex('03'), // wraps to 0x20
    h3(4), hex('04'), // + 0x21 = 0x41
    h1(4, 0xfffffff0, 1, 8), hex('05'), // extended delta: 0x41 + 0xFFFFFFF0 = 0x31 mod 2^32
  ]);
  assert.deepEqual(readAllWays(stream).map((m) => m.timestamp), [0xfffffff0, 0xffffffff, 0x20, 0x41, 0x31]);
});

test('abort drops the partial message on that chunk stream', () => {
  const p = pattern(300, 6);
  const q = pattern(10, 7);
  const stream = Buffer.concat([
    h0(6, 100, 300, 9, 1), p.subarray(0, 128),
    h0(2, 0, 4, 2, 0), u32be(6), // Abort csid 6
    h1(6, 10, 10, 9), q,
  ]);
  const msgs = readAllWays(stream);
  assert.deepEqual(
    msgs.map((m) => [m.csid, m.type, m.timestamp]),
    [[2, 2, 0], [6, 9, 110]],
  );
  assert.deepEqual(msgs[0].payload, u32be(6));
  assert.deepEqual(msgs[1].payload, q);

  // Without the abort, a new header on a csid with a partial message is an error.
  const bad = Buffer.concat([h0(6, 100, 300, 9, 1), p.subarray(0, 128), h1(6, 10, 10, 9), q]);
  assert.throws(() => new ChunkReader().push(bad), RtmpProtocolError);
  // Abort for an unknown csid is harmless.
  assert.equal(new ChunkReader().push(Buffer.concat([h0(2, 0, 4, 2, 0), u32be(40)])).length, 1);
});

test('limits: oversize message, too many chunk streams, fmt 1/2/3 on unknown csid', () => {
  assert.throws(() => new ChunkReader().push(h0(6, 0, 8 * 1024 * 1024 + 1, 9, 1)), RtmpProtocolError);
  assert.equal(new ChunkReader().push(h0(6, 0, 8 * 1024 * 1024, 9, 1)).length, 0);
  assert.throws(() => new ChunkReader({ maxMessageSize: 1000 }).push(h0(6, 0, 1001, 9, 1)), RtmpProtocolError);
  const r = new ChunkReader({ maxMessageSize: 1000 });
  r.push(Buffer.concat([h0(6, 0, 1, 9, 1), hex('00')]));
  assert.throws(() => r.push(h1(6, 0, 1001, 9)), RtmpProtocolError);

  const three = Buffer.concat([3, 4, 5].map((c) => Buffer.concat([h0(c, 0, 1, 8, 1), hex('00')])));
  assert.equal(new ChunkReader({ maxChunkStreams: 3 }).push(three).length, 3);
  assert.throws(
    () => new ChunkReader({ maxChunkStreams: 3 }).push(Buffer.concat([three, h0(9, 0, 1, 8, 1), hex('00')])),
    RtmpProtocolError,
  );
  const many = Buffer.concat(Array.from({ length: 65 }, (_, i) => Buffer.concat([h0(2 + i, 0, 0, 8, 1)])));
  assert.throws(() => new ChunkReader().push(many), RtmpProtocolError);

  assert.throws(() => new ChunkReader().push(h3(5)), RtmpProtocolError);
  assert.throws(() => new ChunkReader().push(Buffer.concat([h2(5, 1), hex('00')])), RtmpProtocolError);
  assert.throws(() => new ChunkReader().push(Buffer.concat([h1(5, 1, 1, 8), hex('00')])), RtmpProtocolError);
});

test('2- and 3-byte basic headers', () => {
  const ids = [2, 63, 64, 319, 320, 65599];
  const stream = Buffer.concat(ids.map((c, i) => Buffer.concat([h0(c, i, 1, 8, 1), Buffer.from([i])])));
  assert.deepEqual(readAllWays(stream).map((m) => [m.csid, m.timestamp, m.payload[0]]), ids.map((c, i) => [c, i, i]));
  assert.deepEqual(encodeMessage({ csid: 64, type: 8, streamId: 1, timestamp: 0, payload: Buffer.alloc(0) }, 128).subarray(0, 2), hex('0000'));
  assert.deepEqual(encodeMessage({ csid: 319, type: 8, streamId: 1, timestamp: 0, payload: Buffer.alloc(0) }, 128).subarray(0, 2), hex('00ff'));
  assert.deepEqual(encodeMessage({ csid: 320, type: 8, streamId: 1, timestamp: 0, payload: Buffer.alloc(0) }, 128).subarray(0, 3), hex('01 0001'));
  assert.deepEqual(encodeMessage({ csid: 65599, type: 8, streamId: 1, timestamp: 0, payload: Buffer.alloc(0) }, 128).subarray(0, 3), hex('01 ffff'));
  assert.throws(() => encodeMessage({ csid: 1, type: 8, streamId: 1, timestamp: 0, payload: Buffer.alloc(0) }, 128), RtmpProtocolError);
  assert.throws(() => encodeMessage({ csid: 65600, type: 8, streamId: 1, timestamp: 0, payload: Buffer.alloc(0) }, 128), RtmpProtocolError);
});

test('encodeMessage produces the exact bytes', () => {
  const small = encodeMessage({ csid: 3, type: 20, streamId: 0, timestamp: 0x010203, payload: hex('aabb') }, 128);
  assert.deepEqual(small, hex('03 010203 000002 14 00000000 aabb'));
  const ext = encodeMessage({ csid: 6, type: 9, streamId: 1, timestamp: 0x12345678, payload: pattern(5) }, 2);
  assert.deepEqual(
    ext,
    Buffer.concat([
      hex('06 ffffff 000005 09 01000000 12345678'), pattern(5).subarray(0, 2),
      hex('c6 12345678'), pattern(5).subarray(2, 4),
      hex('c6 12345678'), pattern(5).subarray(4),
    ]),
  );
  // Timestamps are taken mod 2^32.
  const wrapped = encodeMessage({ csid: 3, type: 20, streamId: 0, timestamp: 2 ** 32 + 5, payload: Buffer.alloc(0) }, 128);
  assert.deepEqual(wrapped, hex('03 000005 000000 14 00000000'));
});

test('encodeMessage -> ChunkReader round trip for sizes, chunk sizes and timestamps', () => {
  const sizes = [0, 1, 127, 128, 129, 100000];
  const timestamps = [0, 0xfffffe, 0xffffff, 0xffffffff];
  for (const chunkSize of [128, 4096]) {
    const parts: Buffer[] = [];
    const expected: RtmpMessage[] = [];
    if (chunkSize !== 128) {
      const setSize = { csid: 2, type: 1, streamId: 0, timestamp: 0, payload: u32be(chunkSize) };
      parts.push(encodeMessage(setSize, 128));
      expected.push(setSize);
    }
    let seed = 0;
    for (const size of sizes) {
      for (const timestamp of timestamps) {
        const msg = { csid: 4 + (seed % 3), type: 9, streamId: 1, timestamp, payload: pattern(size, seed++) };
        parts.push(encodeMessage(msg, chunkSize));
        expected.push(msg);
      }
    }
    const stream = Buffer.concat(parts);
    const reader = new ChunkReader();
    const got = reader.push(stream);
    assert.equal(got.length, expected.length);
    for (let i = 0; i < got.length; i++) {
      assert.equal(got[i].csid, expected[i].csid);
      assert.equal(got[i].type, expected[i].type);
      assert.equal(got[i].streamId, expected[i].streamId);
      assert.equal(got[i].timestamp, expected[i].timestamp, `message ${i}`);
      assert.ok(got[i].payload.equals(expected[i].payload), `payload ${i}`);
    }
    assert.equal(reader.chunkSize, chunkSize);
    // Byte-at-a-time on the whole stream gives the same messages.
    const r = new ChunkReader();
    const single: RtmpMessage[] = [];
    for (let i = 0; i < stream.length; i++) {
      for (const m of r.push(stream.subarray(i, i + 1))) single.push(m);
    }
    assert.equal(single.length, got.length);
    for (let i = 0; i < got.length; i++) {
      assert.equal(single[i].timestamp, got[i].timestamp);
      assert.ok(single[i].payload.equals(got[i].payload));
    }
  }
});

test('single-chunk payloads alias the input; multi-chunk payloads are standalone', () => {
  const data = Buffer.concat([h0(4, 0, 3, 8, 1), hex('010203'), h0(5, 0, 200, 9, 1), pattern(128), h3(5), pattern(72)]);
  const [a, b] = new ChunkReader().push(data);
  assert.equal(a.payload.buffer, data.buffer);
  assert.equal(a.payload.byteOffset, data.byteOffset + 12);
  data.fill(0);
  assert.deepEqual(a.payload, hex('000000'));
  assert.deepEqual(b.payload, Buffer.concat([pattern(128), pattern(72)]));
});

test('a multi-chunk message up to 64 KiB is assembled in one buffer of its own size; longer ones grow', () => {
  for (const size of [200, 10_000, 65_536, 65_537, 200_000]) {
    const msg = { csid: 6, type: 9, streamId: 1, timestamp: 40, payload: pattern(size, 3) };
    const wire = encodeMessage(msg, 128);
    const [got] = new ChunkReader().push(wire);
    assert.ok(got.payload.equals(msg.payload), `payload of ${size}`);
    // (Below 4 KiB allocUnsafe takes a slice of Node's shared pool: no own ArrayBuffer to look at.)
    if (size >= 4096 && size <= 65_536) assert.equal(got.payload.buffer.byteLength, size, `one exact buffer for ${size}`);
    // Byte at a time: the same bytes whatever the buffer growth.
    const r = new ChunkReader();
    let one: RtmpMessage | undefined;
    for (let i = 0; i < wire.length; i++) one ??= r.push(wire.subarray(i, i + 1))[0];
    assert.ok(one?.payload.equals(msg.payload), `byte at a time, ${size}`);
  }
});

test('a peer announcing big messages on many chunk streams and sending one chunk of each gets no 64 KiB buffers', () => {
  const r = new ChunkReader({ maxChunkStreams: 64 });
  const parts: Buffer[] = [];
  // 64 chunk streams, each: a 60 000-byte message announced, its first 128-byte chunk sent (~9 KB in all).
  for (let csid = 3; csid < 3 + 64; csid++) parts.push(h0(csid, 0, 60_000, 9, 1), pattern(128, csid));
  assert.deepEqual(r.push(Buffer.concat(parts)), []);
  // Eager buffers up to 256 KiB in all (a real publisher's two or three frames in progress), then 4 KiB each.
  const held = r.assemblingBytes;
  assert.ok(held <= 256 * 1024 + 64 * 4096, `${held} bytes held for 64 chunks received`);
  // Finishing one stream's message gives it out whole and releases its buffer.
  const rest: Buffer[] = [];
  for (let sent = 128; sent < 60_000; sent += 128) rest.push(h3(3), pattern(Math.min(128, 60_000 - sent), 3).subarray(0, Math.min(128, 60_000 - sent)));
  const [msg] = r.push(Buffer.concat(rest));
  assert.equal(msg?.payload.length, 60_000);
  assert.ok(r.assemblingBytes < held, `${r.assemblingBytes} after vs ${held} before`);
});

test('zero-length messages are emitted from the header alone', () => {
  const msgs = readAllWays(Buffer.concat([h0(3, 7, 0, 20, 0), h3(3), h0(4, 1, 1, 8, 1), hex('ff')]));
  assert.deepEqual(
    msgs.map((m) => [m.csid, m.timestamp, m.payload.length]),
    [[3, 7, 0], [3, 14, 0], [4, 1, 1]],
  );
});

test('random corruption only ever throws RtmpProtocolError', () => {
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const parts: Buffer[] = [];
  for (let i = 0; i < 20; i++) {
    const ts = i % 4 === 0 ? 0xffffff + i : i * 40;
    parts.push(encodeMessage({ csid: 3 + (i % 4), type: 8 + (i % 2), streamId: 1, timestamp: ts, payload: pattern(i * 37, i) }, 64));
  }
  const clean = Buffer.concat(parts);
  for (let iter = 0; iter < 300; iter++) {
    const bad = Buffer.from(clean);
    for (let k = 0; k < 1 + (iter % 5); k++) bad[rand() % bad.length] = rand() & 0xff;
    const reader = new ChunkReader({ maxMessageSize: 4096, maxChunkSize: 4096 });
    try {
      for (let i = 0; i < bad.length; ) {
        const n = 1 + (rand() % 50);
        reader.push(bad.subarray(i, i + n));
        i += n;
      }
    } catch (err) {
      assert.ok(err instanceof RtmpProtocolError, String(err));
    }
  }
});

test('assembly bytes are bounded per reader (raisable) and by a budget shared by readers (issue 14 item 7)', () => {
  // 64 chunk streams announce 8 MiB video messages and send 64 KiB of each: 4 MiB held for 4 MiB sent.
  const flood = (reader: ChunkReader, streams: number) => {
    const setSize = Buffer.concat([h0(2, 0, 4, 1, 0), u32be(65536)]);
    reader.push(setSize);
    for (let csid = 3; csid < 3 + streams; csid++) reader.push(Buffer.concat([h0(csid, 0, 8 * 1024 * 1024, 9, 1), pattern(65536, csid)]));
  };
  const capped = new ChunkReader({ maxAssemblyBytes: 256 * 1024 });
  assert.throws(() => flood(capped, 63), (err: unknown) => err instanceof RtmpProtocolError && /over the limit of 262144/.test(String(err)));
  assert.ok(capped.assemblingBytes <= 256 * 1024, `${capped.assemblingBytes} bytes held`);

  const raised = new ChunkReader({ maxAssemblyBytes: 256 * 1024 });
  raised.setMaxAssemblyBytes(8 * 1024 * 1024);
  flood(raised, 63);
  assert.equal(raised.assemblingBytes, 63 * 65536);

  const budget = { used: 0, max: 1024 * 1024 };
  const a = new ChunkReader({ budget });
  const b = new ChunkReader({ budget });
  flood(a, 10);
  assert.equal(budget.used, 10 * 65536);
  assert.throws(() => flood(b, 10), /server's limit of 1048576/);
  assert.ok(budget.used <= budget.max);
  a.dispose();
  b.dispose();
  assert.equal(budget.used, 0, 'disposed readers give their bytes back');
});

test('a command or data message over 64 KiB is refused at its header (issue 14 item 12)', () => {
  const r = new ChunkReader();
  assert.throws(() => r.push(h0(3, 0, 8 * 1024 * 1024, 20, 0)), /message of type 20 and 8388608 bytes exceeds limit 65536/);
  assert.throws(() => new ChunkReader().push(h0(5, 0, 65537, 18, 1)), /exceeds limit 65536/);
  // Media of that size is fine, and the limit is a setting.
  assert.deepEqual(new ChunkReader().push(h0(6, 0, 65537, 9, 1)), []);
  assert.deepEqual(new ChunkReader({ maxCommandSize: 128 * 1024 }).push(h0(5, 0, 65537, 18, 1)), []);
});

test('withStreamId: another stream id on a copy of the first header, the rest shared', () => {
  for (const [csid, ts, len] of [[6, 40, 150_000], [70, 0xffffff + 5, 300], [400, 7, 10]]) {
    const payload = pattern(len, 3);
    const enc = encodeMessage({ csid, type: 9, streamId: 1, timestamp: ts, payload }, 60_000);
    const [head, rest] = withStreamId(enc, 7);
    assert.equal(rest.buffer, enc.buffer, 'the rest is a view of the shared encoding');
    assert.ok(head.length <= 18);
    assert.deepEqual(Buffer.concat([head, rest]), encodeMessage({ csid, type: 9, streamId: 7, timestamp: ts, payload }, 60_000));
  }
});
