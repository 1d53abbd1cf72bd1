import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { ServerHandshake, ClientHandshake, HANDSHAKE_SIZE, type HandshakeResult } from './handshake';
import { RtmpProtocolError } from './errors';

// Keys as published (rtmpproto.c, librtmp): 30/36 ASCII bytes + 32 constant bytes.
const TAIL = Buffer.from('f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae', 'hex');
const PLAYER_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Player 001'), TAIL]);
const SERVER_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Media Server 001'), TAIL]);

const hmac = (key: Buffer, ...data: Buffer[]) => {
  const h = createHmac('sha256', key);
  for (const d of data) h.update(d);
  return h.digest();
};

/** ff_rtmp_calc_digest_pos */
function digestPos(buf: Buffer, off: number, mod: number, add: number): number {
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += buf[off + i];
  return (sum % mod) + add;
}

/** Deterministic pseudo-random bytes. */
function prng(seed: number): (n: number) => Buffer {
  let s = seed;
  return (n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      b[i] = s >>> 16;
    }
    return b;
  };
}

/** C1 built the way ffmpeg's rtmp_handshake() does (digest at scheme 0 unless encrypted). */
function ffmpegStyleC1(scheme: 0 | 1, seed = 1): { c0c1: Buffer; c1: Buffer; digestAt: number } {
  const c1 = prng(seed)(HANDSHAKE_SIZE);
  c1.writeUInt32BE(0, 0); // ffmpeg sends 0 as time
  c1[4] = 9; c1[5] = 0; c1[6] = 124; c1[7] = 2; // RTMP_CLIENT_VER1..4
  const pos = scheme === 0 ? digestPos(c1, 8, 728, 12) : digestPos(c1, 772, 728, 776);
  const digest = hmac(PLAYER_KEY.subarray(0, 30), c1.subarray(0, pos), c1.subarray(pos + 32));
  digest.copy(c1, pos);
  return { c0c1: Buffer.concat([Buffer.from([3]), c1]), c1, digestAt: pos };
}

/** rtmp_validate_digest(buf, off) with the server key's first 36 bytes. Returns the digest position or 0. */
function validateServerDigest(s1: Buffer, off: number): number {
  const pos = digestPos(s1, off, 728, off + 4);
  const expect = hmac(SERVER_KEY.subarray(0, 36), s1.subarray(0, pos), s1.subarray(pos + 32));
  return expect.equals(s1.subarray(pos, pos + 32)) ? pos : 0;
}

test('simple handshake between ClientHandshake and ServerHandshake', () => {
  const server = new ServerHandshake({ now: () => 0x11223344, random: prng(7) });
  const client = new ClientHandshake({ now: () => 0x55667788, random: prng(8) });
  const c0c1 = client.start();
  assert.equal(c0c1.length, 1537);
  assert.equal(c0c1[0], 3);
  assert.equal(c0c1.readUInt32BE(1), 0x55667788);
  assert.equal(c0c1.readUInt32BE(5), 0);

  const r1 = server.push(c0c1);
  assert.equal(r1.done, false);
  assert.equal(r1.output.length, 2);
  const [s0s1, s2] = r1.output;
  assert.equal(s0s1.length, 1537);
  assert.equal(s0s1[0], 3);
  assert.equal(s0s1.readUInt32BE(1), 0x11223344);
  assert.equal(s0s1.readUInt32BE(5), 0);
  assert.deepEqual(s2, c0c1.subarray(1)); // S2 echoes C1
  assert.equal(server.usedDigest, false);

  const r2 = client.push(Buffer.concat([s0s1, s2]));
  assert.equal(r2.done, true);
  assert.equal(r2.rest.length, 0);
  assert.deepEqual(r2.output, [s0s1.subarray(1)]); // C2 echoes S1
  assert.equal(client.serverVerified, false);

  const r3 = server.push(r2.output[0]);
  assert.deepEqual(r3, { output: [], done: true, rest: Buffer.alloc(0) });
});

for (const scheme of [0, 1] as const) {
  test(`digest handshake (C1 digest scheme ${scheme}) verifies the way ffmpeg's client does`, () => {
    const { c0c1, c1, digestAt } = ffmpegStyleC1(scheme);
    const server = new ServerHandshake({ now: () => 1000, random: prng(3) });
    const { output, done } = server.push(c0c1);
    assert.equal(done, false);
    assert.equal(server.usedDigest, true);
    const serverdata = Buffer.concat(output);
    assert.equal(serverdata.length, 1 + 2 * HANDSHAKE_SIZE);
    assert.equal(serverdata[0], 3);
    const s1 = serverdata.subarray(1, 1 + HANDSHAKE_SIZE);
    const s2 = serverdata.subarray(1 + HANDSHAKE_SIZE);

    // rtmpproto.c: if (serverdata[5] >= 3) { validate at 772, else at 8; check S2 signature }
    assert.ok(serverdata[5] >= 3, 'server version must make ffmpeg verify');
    assert.equal(s1.readUInt32BE(0), 1000);
    let serverPos = validateServerDigest(s1, 772);
    if (!serverPos) serverPos = validateServerDigest(s1, 8);
    assert.ok(serverPos > 0, 'S1 digest validates');
    const expectPos = scheme === 0 ? digestPos(s1, 8, 728, 12) : digestPos(s1, 772, 728, 776);
    assert.equal(serverPos, expectPos, 'server uses the client scheme');

    const key = hmac(SERVER_KEY, c1.subarray(digestAt, digestAt + 32));
    const signature = hmac(key, s2.subarray(0, HANDSHAKE_SIZE - 32));
    assert.deepEqual(s2.subarray(HANDSHAKE_SIZE - 32), signature, 'S2 signature validates');

    // ffmpeg's C2: random bytes signed with HMAC(S1 digest, full player key).
    const c2 = prng(99)(HANDSHAKE_SIZE);
    const c2key = hmac(PLAYER_KEY, s1.subarray(serverPos, serverPos + 32));
    hmac(c2key, c2.subarray(0, HANDSHAKE_SIZE - 32)).copy(c2, HANDSHAKE_SIZE - 32);
    const fin = server.push(Buffer.concat([c2, Buffer.from([0x02, 0xaa])]));
    assert.equal(fin.done, true);
    assert.deepEqual(fin.rest, Buffer.from([0x02, 0xaa]));
  });
}

test('ClientHandshake in digest mode verifies the server and signs C2', () => {
  const server = new ServerHandshake();
  const client = new ClientHandshake({ digest: true });
  const c0c1 = client.start();
  assert.notEqual(c0c1.readUInt32BE(5), 0);
  const r1 = server.push(c0c1);
  assert.equal(server.usedDigest, true);
  const r2 = client.push(Buffer.concat(r1.output));
  assert.equal(r2.done, true);
  assert.equal(client.serverVerified, true);
  // C2 signature, checked independently: HMAC(HMAC(full player key, S1 digest), C2[0..1504))
  const s1 = r1.output[0].subarray(1);
  const pos = validateServerDigest(s1, 8) || validateServerDigest(s1, 772);
  assert.ok(pos > 0);
  const c2 = r2.output[0];
  const sig = hmac(hmac(PLAYER_KEY, s1.subarray(pos, pos + 32)), c2.subarray(0, HANDSHAKE_SIZE - 32));
  assert.deepEqual(c2.subarray(HANDSHAKE_SIZE - 32), sig);
  assert.equal(server.push(c2).done, true);
});

test('ClientHandshake rejects a bad S2 signature from a digest server', () => {
  const server = new ServerHandshake();
  const client = new ClientHandshake({ digest: true });
  const out = Buffer.concat(server.push(client.start()).output);
  out[out.length - 1] ^= 1;
  assert.throws(() => client.push(out), RtmpProtocolError);
});

test('C1 with non-zero version but no valid digest falls back to the simple handshake', () => {
  const { c0c1 } = ffmpegStyleC1(0);
  c0c1[600] ^= 0xff; // breaks the digest
  const server = new ServerHandshake({ now: () => 5, random: prng(4) });
  const { output } = server.push(c0c1);
  assert.equal(server.usedDigest, false);
  assert.equal(output[0].readUInt32BE(5), 0);
  assert.deepEqual(output[1], c0c1.subarray(1));
});

test('bytes after C2 are returned as rest, and later pushes pass through', () => {
  const server = new ServerHandshake();
  const client = new ClientHandshake();
  const r1 = server.push(client.start());
  const c2 = client.push(Buffer.concat(r1.output)).output[0];
  const chunkData = Buffer.from('0300000000001914000000000200', 'hex');
  const r = server.push(Buffer.concat([c2, chunkData]));
  assert.equal(r.done, true);
  assert.deepEqual(r.rest, chunkData);
  assert.deepEqual(server.push(Buffer.from([1, 2])), { output: [], done: true, rest: Buffer.from([1, 2]) });
});

test('bad C0 version throws RtmpProtocolError as soon as it arrives', () => {
  for (const v of [0, 6, 0x16, 0x47]) {
    assert.throws(() => new ServerHandshake().push(Buffer.from([v])), RtmpProtocolError, String(v));
  }
  const client = new ClientHandshake();
  client.start();
  assert.throws(() => client.push(Buffer.from([6])), RtmpProtocolError);
});

test('bytes split at awkward boundaries give identical output', () => {
  const client = new ClientHandshake({ now: () => 42, random: prng(11), digest: true });
  const c0c1 = client.start();
  const whole = new ServerHandshake({ now: () => 7, random: prng(12) });
  const wholeOut = whole.push(c0c1).output;
  const c2 = client.push(Buffer.concat(wholeOut)).output[0];
  const tail = Buffer.from([0xc3, 1, 2, 3]);
  const all = Buffer.concat([c0c1, c2, tail]);

  for (const cuts of [[1], [1, 1536], [1537, 1538], [2, 1535, 1535], [1536, 1537, 1538], [700, 1300, 3072, 3073]]) {
    const server = new ServerHandshake({ now: () => 7, random: prng(12) });
    const out: Buffer[] = [];
    const rest: Buffer[] = [];
    let done = false;
    let prev = 0;
    for (const cut of [...cuts, all.length]) {
      const r = server.push(all.subarray(prev, cut));
      out.push(...r.output);
      if (r.done) rest.push(r.rest);
      done = r.done;
      prev = cut;
    }
    assert.equal(done, true, `cuts ${cuts}`);
    assert.deepEqual(Buffer.concat(out), Buffer.concat(wholeOut));
    assert.deepEqual(Buffer.concat(rest), tail);
  }

  // Client side, one byte at a time.
  const c = new ClientHandshake({ now: () => 42, random: prng(11), digest: true });
  c.start();
  const serverBytes = Buffer.concat([...wholeOut, tail]);
  const cOut: Buffer[] = [];
  let res: HandshakeResult = { output: [], done: false, rest: Buffer.alloc(0) };
  for (let i = 0; i < serverBytes.length && !res.done; i++) {
    res = c.push(serverBytes.subarray(i, i + 1));
    cOut.push(...res.output);
  }
  assert.equal(res.done, true);
  assert.equal(c.serverVerified, true);
  assert.deepEqual(cOut, [c2]);
});
