import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAmf0, decodeAmf0Command, encodeAmf0, Amf0EcmaArray, Amf0TooLarge, type Amf0Value } from './amf0';
import { RtmpProtocolError } from './errors';

/** Hex bytes, whitespace ignored. */
function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}
/** 16-bit length-prefixed ASCII (AMF0 string body / property name). */
function s16(s: string): Buffer {
  const b = Buffer.alloc(2 + s.length);
  b.writeUInt16BE(s.length, 0);
  b.write(s, 2, 'latin1');
  return b;
}
const bytes = (...parts: (string | Buffer)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? hex(p) : p)));

function roundTrip(v: Amf0Value): Amf0Value {
  const decoded = decodeAmf0(encodeAmf0(v));
  assert.equal(decoded.length, 1);
  return decoded[0];
}

test('number encodes as 0x00 + big-endian double and round trips', () => {
  assert.deepEqual(encodeAmf0(1), hex('00 3ff0000000000000'));
  assert.deepEqual(encodeAmf0(4071), hex('00 40afce0000000000'));
  for (const n of [0, -1.5, 29.97, 2 ** 53, -Infinity, Number.MAX_VALUE]) assert.equal(roundTrip(n), n);
  assert.ok(Object.is(roundTrip(-0), -0));
  assert.ok(Number.isNaN(roundTrip(NaN)));
});

test('boolean, null, undefined round trip with their markers', () => {
  assert.deepEqual(encodeAmf0(true, false, null, undefined), hex('01 01 01 00 05 06'));
  assert.deepEqual(decodeAmf0(hex('01 01 01 00 01 7f 05 06')), [true, false, true, null, undefined]);
});

test('strings are UTF-8; > 65535 bytes use long string', () => {
  assert.deepEqual(encodeAmf0('live'), bytes('02', s16('live')));
  assert.deepEqual(encodeAmf0(''), hex('02 0000'));
  const utf = 'héllo ✓ 🎥';
  const enc = encodeAmf0(utf);
  assert.equal(enc[0], 0x02);
  assert.equal(enc.readUInt16BE(1), Buffer.byteLength(utf));
  assert.equal(roundTrip(utf), utf);

  const max = 'x'.repeat(65535);
  assert.equal(encodeAmf0(max)[0], 0x02);
  assert.equal(roundTrip(max), max);
  const long = 'y'.repeat(70000);
  const longEnc = encodeAmf0(long);
  assert.equal(longEnc[0], 0x0c);
  assert.equal(longEnc.readUInt32BE(1), 70000);
  assert.equal(longEnc.length, 5 + 70000);
  assert.equal(roundTrip(long), long);
  // 30000 three-byte characters: fewer than 65535 chars but more bytes.
  const wide = '€'.repeat(30000);
  assert.equal(encodeAmf0(wide)[0], 0x0c);
  assert.equal(roundTrip(wide), wide);
});

test('objects keep insertion order; undefined properties are encoded as 0x06', () => {
  const enc = encodeAmf0({ b: 1, a: undefined });
  assert.deepEqual(enc, bytes('03', s16('b'), '00 3ff0000000000000', s16('a'), '06', '0000 09'));
  const v = { level: 'status', code: 'NetStream.Publish.Start', nested: { x: [1, 'two', null], ok: true } };
  assert.deepEqual(roundTrip(v), v);
  assert.deepEqual(Object.keys(roundTrip({ z: 1, y: 2, x: 3 }) as object), ['z', 'y', 'x']);
  assert.deepEqual(roundTrip({}), {});
});

test('strict arrays, dates and ECMA arrays round trip', () => {
  assert.deepEqual(encodeAmf0([1, 'a']), bytes('0a 00000002 00 3ff0000000000000 02', s16('a')));
  assert.deepEqual(roundTrip([]), []);
  assert.deepEqual(roundTrip([[1], [[2]], { a: [] }]), [[1], [[2]], { a: [] }]);

  const d = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678));
  const dEnc = encodeAmf0(d);
  assert.equal(dEnc.length, 11);
  assert.equal(dEnc[0], 0x0b);
  assert.equal(dEnc.readDoubleBE(1), d.getTime());
  assert.equal(dEnc.readUInt16BE(9), 0);
  const back = roundTrip(d);
  assert.ok(back instanceof Date);
  assert.equal(back.getTime(), d.getTime());

  const ecma = encodeAmf0(new Amf0EcmaArray({ duration: 0, width: 1280 }));
  assert.deepEqual(
    ecma,
    bytes('08 00000002', s16('duration'), '00 0000000000000000', s16('width'), '00 4094000000000000', '0000 09'),
  );
  assert.deepEqual(decodeAmf0(ecma), [{ duration: 0, width: 1280 }]);
});

test('decodes a real connect command (as sent by ffmpeg/OBS)', () => {
  const fixture = bytes(
    '02', s16('connect'),
    '00 3ff0000000000000', // transaction id 1
    '03',
    s16('app'), '02', s16('live'),
    s16('type'), '02', s16('nonprivate'),
    s16('flashVer'), '02', s16('FMLE/3.0 (compatible; FMSc/1.0)'),
    s16('swfUrl'), '02', s16('rtmp://localhost:1935/live'),
    s16('tcUrl'), '02', s16('rtmp://localhost:1935/live'),
    s16('fpad'), '01 00',
    s16('capabilities'), '00 402e000000000000', // 15
    s16('audioCodecs'), '00 40afce0000000000', // 4071
    s16('videoCodecs'), '00 406f800000000000', // 252
    s16('videoFunction'), '00 3ff0000000000000', // 1
    s16('objectEncoding'), '00 0000000000000000', // 0
    '0000 09',
  );
  const cmd = decodeAmf0Command(fixture);
  assert.equal(cmd.name, 'connect');
  assert.equal(cmd.transactionId, 1);
  assert.deepEqual(cmd.commandObject, {
    app: 'live',
    type: 'nonprivate',
    flashVer: 'FMLE/3.0 (compatible; FMSc/1.0)',
    swfUrl: 'rtmp://localhost:1935/live',
    tcUrl: 'rtmp://localhost:1935/live',
    fpad: false,
    capabilities: 15,
    audioCodecs: 4071,
    videoCodecs: 252,
    videoFunction: 1,
    objectEncoding: 0,
  });
  assert.deepEqual(cmd.args, []);

  // Every cut that is not at a value boundary (10 = after name, 19 = after id) must throw RtmpProtocolError.
  for (let cut = 1; cut < fixture.length; cut++) {
    const part = fixture.subarray(0, cut);
    if (cut === 10 || cut === 19) {
      assert.equal(decodeAmf0(part).length, cut === 10 ? 1 : 2);
      continue;
    }
    assert.throws(() => decodeAmf0(part), RtmpProtocolError, `cut at ${cut}`);
  }
});

test('decodeAmf0Command: publish with null command object and args; errors', () => {
  const publish = bytes('02', s16('publish'), '00 4014000000000000', '05', '02', s16('mykey'), '02', s16('live'));
  assert.deepEqual(decodeAmf0Command(publish), {
    name: 'publish',
    transactionId: 5,
    commandObject: null,
    args: ['mykey', 'live'],
  });
  assert.deepEqual(decodeAmf0Command(bytes('02', s16('onBWDone'))), {
    name: 'onBWDone',
    transactionId: 0,
    commandObject: null,
    args: [],
  });
  assert.throws(() => decodeAmf0Command(hex('00 3ff0000000000000')), RtmpProtocolError);
  assert.throws(() => decodeAmf0Command(hex('')), RtmpProtocolError);
  assert.throws(() => decodeAmf0Command(bytes('02', s16('x'), '02', s16('1'))), RtmpProtocolError);
});

test('decodes an onMetaData ECMA array fixture (count ignored)', () => {
  const fixture = bytes(
    '02', s16('@setDataFrame'),
    '02', s16('onMetaData'),
    '08 00000000', // wrong count on purpose: must be ignored
    s16('duration'), '00 0000000000000000',
    s16('width'), '00 4094000000000000',
    s16('height'), '00 4086800000000000',
    s16('videocodecid'), '00 401c000000000000',
    s16('framerate'), '00 403df851eb851eb8',
    s16('encoder'), '02', s16('Lavf60.3.100'),
    s16('stereo'), '01 01',
    '0000 09',
  );
  assert.deepEqual(decodeAmf0(fixture), [
    '@setDataFrame',
    'onMetaData',
    {
      duration: 0,
      width: 1280,
      height: 720,
      videocodecid: 7,
      framerate: 29.97,
      encoder: 'Lavf60.3.100',
      stereo: true,
    },
  ]);
});

test('decodes reference, typed object, XML, long string, unsupported and AVM+ values', () => {
  // [ {a:1}, ref 0 ] -> the same object twice
  const withRef = decodeAmf0(bytes('0a 00000002 03', s16('a'), '00 3ff0000000000000 0000 09 07 0001'));
  const arr = withRef[0] as Amf0Value[];
  assert.deepEqual(arr, [{ a: 1 }, { a: 1 }]);
  // ref index 0 is the strict array itself, 1 the object
  assert.equal(arr[0], arr[1]);
  assert.throws(() => decodeAmf0(bytes('03 0000 09 07 0001')), RtmpProtocolError);
  assert.throws(() => decodeAmf0(hex('07 0000')), RtmpProtocolError);

  assert.deepEqual(decodeAmf0(bytes('10', s16('flash.Foo'), s16('x'), '01 01 0000 09')), [{ x: true }]);
  assert.deepEqual(decodeAmf0(bytes('0f 00000008', Buffer.from('<a>b</a>'))), ['<a>b</a>']);
  assert.deepEqual(decodeAmf0(bytes('0c 00000003', Buffer.from('abc'))), ['abc']);
  assert.deepEqual(decodeAmf0(hex('0d 05')), [undefined, null]);

  assert.deepEqual(decodeAmf0(hex('11 00 11 01 11 02 11 03')), [undefined, null, false, true]);
  assert.deepEqual(decodeAmf0(hex('11 04 05 11 04 7f')), [5, 127]);
  assert.deepEqual(decodeAmf0(hex('11 04 81 00')), [128]);
  assert.deepEqual(decodeAmf0(hex('11 04 ff ff ff ff')), [-1]); // 29-bit signed
  assert.deepEqual(decodeAmf0(hex('11 05 3ff0000000000000')), [1]);
  assert.deepEqual(decodeAmf0(bytes('11 06 07', Buffer.from('abc'))), ['abc']);
  assert.throws(() => decodeAmf0(hex('11 06 00')), RtmpProtocolError); // string reference
  assert.throws(() => decodeAmf0(hex('11 0a 0b 01')), RtmpProtocolError); // AMF3 object
  assert.throws(() => decodeAmf0(hex('11 04 ff')), RtmpProtocolError);
});

test('unknown/reserved markers and bad structure throw RtmpProtocolError', () => {
  for (const m of ['04', '09', '0e', '12', 'ff']) {
    assert.throws(() => decodeAmf0(hex(m)), RtmpProtocolError, m);
  }
  assert.throws(() => decodeAmf0(hex('0a ffffffff 05')), RtmpProtocolError);
  assert.throws(() => decodeAmf0(hex('02 0005 6162')), RtmpProtocolError);
  assert.throws(() => decodeAmf0(hex('0c 00010000 61')), RtmpProtocolError);
  assert.throws(() => decodeAmf0(hex('00 3ff0')), RtmpProtocolError);
  assert.throws(() => decodeAmf0(hex('0b 3ff0000000000000 00')), RtmpProtocolError);
  assert.throws(() => decodeAmf0(hex('03 0001 61')), RtmpProtocolError);
  assert.throws(() => decodeAmf0(hex('03 0000')), RtmpProtocolError);
  assert.throws(() => decodeAmf0(hex('08 000000')), RtmpProtocolError);
});

test('__proto__ keys become plain properties', () => {
  const [obj] = decodeAmf0(bytes('03', s16('__proto__'), '01 01', '0000 09')) as [Record<string, Amf0Value>];
  assert.equal(Object.getPrototypeOf(obj), Object.prototype);
  assert.deepEqual(Object.keys(obj), ['__proto__']);
  assert.equal(Object.getOwnPropertyDescriptor(obj, '__proto__')?.value, true);
});

test('nesting depth limit of 64 when decoding and encoding', () => {
  const nested = (n: number) => Buffer.concat([hex('0a 00000001'.repeat(n)), hex('05')]);
  let v = decodeAmf0(nested(64))[0];
  for (let i = 0; i < 64; i++) {
    assert.ok(Array.isArray(v));
    v = v[0];
  }
  assert.equal(v, null);
  assert.throws(() => decodeAmf0(nested(65)), RtmpProtocolError);
  const objs = (n: number) => Buffer.concat([hex('03 0001 61'.repeat(n)), hex('05'), hex('0000 09'.repeat(n))]);
  assert.equal(decodeAmf0(objs(64)).length, 1);
  assert.throws(() => decodeAmf0(objs(65)), RtmpProtocolError);

  let deep: Amf0Value = 1;
  for (let i = 0; i < 64; i++) deep = [deep];
  assert.deepEqual(roundTrip(deep), deep);
  assert.throws(() => encodeAmf0([deep]), RtmpProtocolError);
  const cyclic: Record<string, Amf0Value> = {};
  cyclic.self = cyclic;
  assert.throws(() => encodeAmf0(cyclic), RtmpProtocolError);
});

test('multiple values decode in order', () => {
  const enc = encodeAmf0('_result', 1, { fmsVer: 'FMS/3,0,1,123' }, { level: 'status' });
  assert.deepEqual(decodeAmf0(enc), ['_result', 1, { fmsVer: 'FMS/3,0,1,123' }, { level: 'status' }]);
  assert.deepEqual(decodeAmf0(Buffer.alloc(0)), []);
});

/** A strict array of `levels` objects, each (but the first) with two references to the one before: a DAG. */
function referenceBomb(levels: number): Buffer {
  const parts: (string | Buffer)[] = [`0a ${levels.toString(16).padStart(8, '0')}`, '03', s16('v'), '00 3ff0000000000000 0000 09'];
  for (let i = 1; i < levels; i++) {
    // Ref 0 is the array, ref k the k-th object: object i refers to object i-1, i.e. ref i.
    const ref = `07 ${i.toString(16).padStart(4, '0')}`;
    parts.push('03', s16('x'), ref, s16('y'), ref, '0000 09');
  }
  return bytes(...parts);
}

test('references: a DAG that expands past the budget is refused (issue 14 item 2); a cycle is refused; small DAGs decode', () => {
  const bomb = referenceBomb(24); // ~400 bytes that expand to ~2^24 objects
  assert.ok(bomb.length < 600, `${bomb.length} bytes`);
  assert.throws(() => decodeAmf0(bomb), (err: unknown) => err instanceof Amf0TooLarge && /expand the message past 1048576 bytes/.test(String(err)));
  assert.throws(() => decodeAmf0(referenceBomb(8), { maxExpandedBytes: 1000 }), Amf0TooLarge);
  // Within the budget: the same DAG of 8 levels decodes and encodes to what its expansion is.
  const small = decodeAmf0(referenceBomb(8))[0] as Amf0Value[];
  assert.equal(small.length, 8);
  const encoded = encodeAmf0(small);
  assert.ok(encoded.length > 2000 && encoded.length < 1024 * 1024, `${encoded.length} bytes`);
  // A reference to an object that is still being read (its own parent): a cycle, never a value.
  assert.throws(() => decodeAmf0(bytes('03', s16('self'), '07 0000', '0000 09')), /cycle/);
  assert.throws(() => decodeAmf0(bytes('0a 00000001', '07 0000')), /cycle/);
});
