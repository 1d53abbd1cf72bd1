/**
 * RTMP handshake (Adobe RTMP specification 1.0, section 5.2) plus the
 * "digest" (Flash Player 9+, a.k.a. complex) variant that ffmpeg, librtmp
 * and Flash clients send and may verify.
 *
 * Digest layout of a 1536-byte C1/S1: bytes 0..3 time, 4..7 version
 * (non-zero), and a 32-byte HMAC-SHA256 digest somewhere in the rest. Its
 * offset is computed by one of two schemes:
 *   scheme 0: (sum of bytes 8..11) % 728 + 12
 *   scheme 1: (sum of bytes 772..775) % 728 + 776
 * The digest covers the packet with the 32 digest bytes removed. C1 is keyed
 * with the first 30 bytes of the Flash Player key, S1 with the first 36 bytes
 * of the Flash Media Server key. S2 (C2) ends with HMAC-SHA256 of its first
 * 1504 bytes keyed by HMAC-SHA256(C1 (S1) digest, full FMS (FP) key).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { RtmpProtocolError } from './errors';

export const RTMP_VERSION = 3;
export const HANDSHAKE_SIZE = 1536;
const DIGEST_LEN = 32;
const SIG_OFFSET = HANDSHAKE_SIZE - DIGEST_LEN; // 1504

const KEY_TAIL = Buffer.from([
  0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57, 0x6e, 0xec, 0x5d,
  0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
]);
/** "Genuine Adobe Flash Player 001" + 32 constant bytes (62 bytes). */
const FP_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Player 001', 'latin1'), KEY_TAIL]);
/** "Genuine Adobe Flash Media Server 001" + 32 constant bytes (68 bytes). */
const FMS_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Media Server 001', 'latin1'), KEY_TAIL]);
const FP_KEY_PUBLIC = FP_KEY.subarray(0, 30);
const FMS_KEY_PUBLIC = FMS_KEY.subarray(0, 36);

/** Version advertised in a digest S1 (byte 4 >= 3 tells clients such as ffmpeg to verify it). */
const SERVER_VERSION = [0x0d, 0x0e, 0x0a, 0x0d];
/** Version advertised in a digest C1 (Flash Player 9.0.124.2, as ffmpeg sends). */
const CLIENT_VERSION = [0x09, 0x00, 0x7c, 0x02];

export type DigestScheme = 0 | 1;

export interface HandshakeOptions {
  /** Milliseconds for the time field (taken mod 2^32). Default Date.now. */
  now?: () => number;
  /** n random bytes. Default crypto.randomBytes. */
  random?: (n: number) => Buffer;
}

export interface HandshakeResult {
  /** Bytes to write to the peer, in order. */
  output: Buffer[];
  /** The handshake is complete. */
  done: boolean;
  /** When done: bytes received after the handshake (start of the chunk stream). */
  rest: Buffer;
}

const EMPTY = Buffer.alloc(0);

function hmac(key: Buffer, ...parts: Buffer[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Offset of the 32-byte digest inside a 1536-byte C1/S1 for a scheme. */
export function digestOffset(packet: Buffer, scheme: DigestScheme): number {
  const base = scheme === 0 ? 8 : 772;
  return ((packet[base] + packet[base + 1] + packet[base + 2] + packet[base + 3]) % 728) + base + 4;
}

function packetDigest(packet: Buffer, offset: number, key: Buffer): Buffer {
  return hmac(key, packet.subarray(0, offset), packet.subarray(offset + DIGEST_LEN));
}

function digestMatches(packet: Buffer, scheme: DigestScheme, key: Buffer): number {
  const off = digestOffset(packet, scheme);
  const expected = packetDigest(packet, off, key);
  return timingSafeEqual(expected, packet.subarray(off, off + DIGEST_LEN)) ? off : -1;
}

/** Writes the time, version and digest into a packet whose random bytes are already filled. */
function imprintDigest(packet: Buffer, time: number, version: number[], scheme: DigestScheme, key: Buffer): number {
  packet.writeUInt32BE(time >>> 0, 0);
  for (let i = 0; i < 4; i++) packet[4 + i] = version[i];
  const off = digestOffset(packet, scheme);
  packetDigest(packet, off, key).copy(packet, off);
  return off;
}

function randomPacket(random: (n: number) => Buffer, timeAndZero?: number): Buffer {
  const p = Buffer.alloc(HANDSHAKE_SIZE);
  const r = random(HANDSHAKE_SIZE - 8);
  if (r.length < HANDSHAKE_SIZE - 8) throw new RtmpProtocolError('random source returned too few bytes');
  r.copy(p, 8, 0, HANDSHAKE_SIZE - 8);
  if (timeAndZero !== undefined) p.writeUInt32BE(timeAndZero >>> 0, 0);
  return p;
}

/** S2/C2 of the digest handshake: random bytes ending with a signature keyed by the peer's digest. */
function signedResponse(random: (n: number) => Buffer, peerDigest: Buffer, fullKey: Buffer): Buffer {
  const p = randomPacket(random);
  hmac(hmac(fullKey, peerDigest), p.subarray(0, SIG_OFFSET)).copy(p, SIG_OFFSET);
  return p;
}

/**
 * Finds a valid digest in C1 (or S1) with the given public key. Returns the
 * scheme and digest offset, or null (then the simple handshake applies).
 */
export function findDigest(packet: Buffer, publicKey: 'client' | 'server'): { scheme: DigestScheme; offset: number } | null {
  if (packet.length !== HANDSHAKE_SIZE) return null;
  const key = publicKey === 'client' ? FP_KEY_PUBLIC : FMS_KEY_PUBLIC;
  for (const scheme of [0, 1] as const) {
    const offset = digestMatches(packet, scheme, key);
    if (offset >= 0) return { scheme, offset };
  }
  return null;
}

function defaultNow(): number {
  return Date.now();
}

/**
 * Server side. Feed socket bytes with push() until `done`; write every
 * `output` buffer to the socket; after `done`, `rest` is chunk stream data.
 */
export class ServerHandshake {
  private readonly now: () => number;
  private readonly random: (n: number) => Buffer;
  private state: 'c0c1' | 'c2' | 'done' = 'c0c1';
  private buf: Buffer = EMPTY;
  private digestUsed = false;

  constructor(opts?: HandshakeOptions) {
    this.now = opts?.now ?? defaultNow;
    this.random = opts?.random ?? randomBytes;
  }

  /** True when the client sent a valid digest C1 and was answered with the digest form. */
  get usedDigest(): boolean {
    return this.digestUsed;
  }

  push(data: Buffer): HandshakeResult {
    if (this.state === 'done') return { output: [], done: true, rest: data };
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    const output: Buffer[] = [];

    if (this.state === 'c0c1') {
      if (this.buf.length >= 1 && this.buf[0] !== RTMP_VERSION) {
        throw new RtmpProtocolError(`unsupported RTMP version ${this.buf[0]}`);
      }
      if (this.buf.length < 1 + HANDSHAKE_SIZE) return { output, done: false, rest: EMPTY };
      const c1 = Buffer.from(this.buf.subarray(1, 1 + HANDSHAKE_SIZE));
      this.buf = this.buf.subarray(1 + HANDSHAKE_SIZE);
      const [s0s1, s2] = this.respond(c1);
      output.push(s0s1, s2);
      this.state = 'c2';
    }

    // state === 'c2': C2 is accepted without checking (many clients send garbage).
    if (this.buf.length < HANDSHAKE_SIZE) return { output, done: false, rest: EMPTY };
    const rest = this.buf.subarray(HANDSHAKE_SIZE);
    this.buf = EMPTY;
    this.state = 'done';
    return { output, done: true, rest };
  }

  private respond(c1: Buffer): [Buffer, Buffer] {
    const time = this.now();
    const s0s1 = Buffer.alloc(1 + HANDSHAKE_SIZE);
    s0s1[0] = RTMP_VERSION;
    const found = c1.readUInt32BE(4) !== 0 ? findDigest(c1, 'client') : null;
    if (found === null) {
      // Simple handshake: S1 = time, zero, random; S2 echoes C1.
      randomPacket(this.random, time).copy(s0s1, 1);
      return [s0s1, c1];
    }
    this.digestUsed = true;
    const s1 = randomPacket(this.random);
    imprintDigest(s1, time, SERVER_VERSION, found.scheme, FMS_KEY_PUBLIC);
    s1.copy(s0s1, 1);
    const c1Digest = c1.subarray(found.offset, found.offset + DIGEST_LEN);
    return [s0s1, signedResponse(this.random, c1Digest, FMS_KEY)];
  }
}

export interface ClientHandshakeOptions extends HandshakeOptions {
  /**
   * Send a digest C1 (scheme 0, as ffmpeg does) and verify the server's S1
   * digest and S2 signature when the server advertises a version (S1 byte 4 >= 3),
   * like ffmpeg's rtmpproto.c. Default false (simple handshake).
   */
  digest?: boolean;
}

/**
 * Client side, for tests and load generation: start() gives C0+C1; push()
 * consumes S0 S1 S2 and outputs C2 (as soon as S1 is in).
 */
export class ClientHandshake {
  private readonly now: () => number;
  private readonly random: (n: number) => Buffer;
  private readonly digest: boolean;
  private state: 'init' | 's0s1' | 's2' | 'done' = 'init';
  private buf: Buffer = EMPTY;
  private c1: Buffer = EMPTY;
  private c1DigestOffset = -1;
  private verified = false;
  private expectS2Signature = false;

  constructor(opts?: ClientHandshakeOptions) {
    this.now = opts?.now ?? defaultNow;
    this.random = opts?.random ?? randomBytes;
    this.digest = opts?.digest ?? false;
  }

  /** True when the server's digest S1 and S2 signature were verified. */
  get serverVerified(): boolean {
    return this.verified;
  }

  /** C0 + C1. Call once, before push(). */
  start(): Buffer {
    if (this.state !== 'init') throw new RtmpProtocolError('handshake already started');
    const time = this.now();
    const c1 = randomPacket(this.random, time);
    if (this.digest) {
      this.c1DigestOffset = imprintDigest(c1, time, CLIENT_VERSION, 0, FP_KEY_PUBLIC);
    }
    this.c1 = c1;
    this.state = 's0s1';
    const out = Buffer.allocUnsafe(1 + HANDSHAKE_SIZE);
    out[0] = RTMP_VERSION;
    c1.copy(out, 1);
    return out;
  }

  push(data: Buffer): HandshakeResult {
    if (this.state === 'init') throw new RtmpProtocolError('call start() before push()');
    if (this.state === 'done') return { output: [], done: true, rest: data };
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    const output: Buffer[] = [];

    if (this.state === 's0s1') {
      if (this.buf.length >= 1 && this.buf[0] !== RTMP_VERSION) {
        throw new RtmpProtocolError(`server answered with RTMP version ${this.buf[0]}`);
      }
      if (this.buf.length < 1 + HANDSHAKE_SIZE) return { output, done: false, rest: EMPTY };
      const s1 = Buffer.from(this.buf.subarray(1, 1 + HANDSHAKE_SIZE));
      this.buf = this.buf.subarray(1 + HANDSHAKE_SIZE);
      output.push(this.makeC2(s1));
      this.state = 's2';
    }

    if (this.buf.length < HANDSHAKE_SIZE) return { output, done: false, rest: EMPTY };
    const s2 = this.buf.subarray(0, HANDSHAKE_SIZE);
    const rest = this.buf.subarray(HANDSHAKE_SIZE);
    if (this.c1DigestOffset >= 0 && this.expectS2Signature) this.verifyS2(s2);
    this.buf = EMPTY;
    this.state = 'done';
    return { output, done: true, rest };
  }

  private makeC2(s1: Buffer): Buffer {
    if (this.c1DigestOffset < 0 || s1[4] < 3) return s1; // simple: C2 echoes S1
    // Like ffmpeg: look for the server digest with scheme 1 first, then 0.
    let off = digestMatches(s1, 1, FMS_KEY_PUBLIC);
    if (off < 0) off = digestMatches(s1, 0, FMS_KEY_PUBLIC);
    if (off < 0) throw new RtmpProtocolError('server S1 digest did not validate');
    this.expectS2Signature = true;
    return signedResponse(this.random, s1.subarray(off, off + DIGEST_LEN), FP_KEY);
  }

  private verifyS2(s2: Buffer): void {
    const c1Digest = this.c1.subarray(this.c1DigestOffset, this.c1DigestOffset + DIGEST_LEN);
    const expected = hmac(hmac(FMS_KEY, c1Digest), s2.subarray(0, SIG_OFFSET));
    if (!timingSafeEqual(expected, s2.subarray(SIG_OFFSET))) {
      throw new RtmpProtocolError('server S2 signature did not validate');
    }
    this.verified = true;
  }
}
