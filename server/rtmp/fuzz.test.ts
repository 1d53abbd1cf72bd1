/**
 * Fuzzing the RTMP listener over real sockets.
 *
 * Two real publish sessions are recorded once per run (the chunk stream bytes after the
 * handshake): one written by our own client (server/testing/rtmp-client.ts) and one by real
 * ffmpeg through a recording TCP proxy, both carrying a 2-second H.264 + AAC FLV made by
 * ffmpeg. Then FUZZ_CASES (default 2000) fresh connections each do a proper handshake and
 * send a recording with seeded random mutations (bit flips, byte overwrites, insertions,
 * deletions, truncation, duplicated ranges, huge length fields, bad chunk sizes, forged
 * headers, split writes), 16 at a time. The server runs in this process: it must never
 * throw (nor may any hub subscriber or listener: the hub isolates those errors, this test
 * counts them, the HLS packager's included; FUZZ_STRICT=0 only reports the packager's), must always
 * produce well-formed RTMP, must close every connection, must not grow its heap, and must
 * still relay a normal ffmpeg stream afterwards. Hostile clients follow, one test each.
 *
 * Replay: the seed is printed; FUZZ_SEED=<seed> repeats the run, FUZZ_ONLY=<case> runs one case.
 * `node scripts/fuzz.mjs` runs 50 000 cases.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Hub } from '../media/hub';
import { StreamRegistry } from '../media/registry';
import { rtmpRelay } from '../relay/rtmp';
import { probe, publishTestStream, run, startTestServer, waitFor, waitLive, type TestServer } from '../testing/harness';
import { CLIENT_CSID, RtmpClient, connectPublisher, parseRtmpUrl } from '../testing/rtmp-client';
import { ChunkReader, encodeMessage } from './chunk';
import { ClientHandshake, HANDSHAKE_SIZE } from './handshake';
import { MessageType } from './messages';
import { RtmpServer } from './server';
import { closedWithin } from '../testing/sockets';

const CASES = Number(process.env.FUZZ_CASES ?? 2000);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : (Math.random() * 0x100000000) >>> 0;
const ONLY = process.env.FUZZ_ONLY ? Number(process.env.FUZZ_ONLY) : null;
const CONCURRENCY = 16;
const CASE_TIMEOUT_MS = 5000;
const MiB = 1024 * 1024;

// ---- crash guard: the server runs in this process ------------------------------------------

const crashes: string[] = [];
const onCrash = (err: unknown) => crashes.push(String((err as Error)?.stack ?? err));
process.on('uncaughtException', onCrash);
process.on('unhandledRejection', onCrash);
/**
 * Errors the hub caught from its subscribers and listeners (it isolates them, so they crash
 * nothing, but each is a bug). FUZZ_STRICT=0 only reports the HLS packager's.
 */
const listenerErrors = new Map<string, { count: number; stack: string }>();
const STRICT = process.env.FUZZ_STRICT !== '0';
function watchHub(hub: Hub) {
  const original = hub.options.onListenerError;
  hub.options.onListenerError = (err, where) => {
    const key = `${where}: ${String((err as Error)?.message ?? err).replace(/\d+/g, 'N')}`;
    const e = listenerErrors.get(key) ?? { count: 0, stack: String((err as Error)?.stack ?? err) };
    e.count++;
    listenerErrors.set(key, e);
    original(err, where);
  };
}
function assertNoCrash() {
  assert.deepEqual(crashes, [], `uncaught errors in the server process:\n${crashes.join('\n')}`);
  const bad = [...listenerErrors].filter(([, e]) => STRICT || !/[/\\]server[/\\]hls[/\\]/.test(e.stack));
  assert.deepEqual(bad.map(([k, e]) => `${e.count}x ${k}\n${e.stack}`), [], 'errors thrown by hub subscribers or listeners');
}
function reportListenerErrors(report: (msg: string) => void) {
  for (const [k, e] of listenerErrors) report(`hub caught ${e.count}x "${k}" at ${e.stack.split('\n')[1]?.trim()}`);
}

// ---- seeded PRNG -----------------------------------------------------------------------------

/** mulberry32: small, fast, good enough for fuzzing. Returns floats in [0, 1). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const caseSeed = (seed: number, i: number) => (Math.imul(seed ^ 0x5bd1e995, 0x01000193) ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;

// ---- FLV file and chunk stream helpers -------------------------------------------------------

interface FlvTag {
  type: number;
  timestamp: number;
  body: Buffer;
}

/** Tags of an FLV file (header, then PreviousTagSize + tag repeated). */
function parseFlv(buf: Buffer): FlvTag[] {
  assert.equal(buf.toString('latin1', 0, 3), 'FLV', 'not an FLV file');
  const tags: FlvTag[] = [];
  let p = buf.readUInt32BE(5) + 4;
  while (p + 11 <= buf.length) {
    const type = buf[p] & 0x1f;
    const size = buf.readUIntBE(p + 1, 3);
    const timestamp = (buf.readUIntBE(p + 4, 3) | (buf[p + 7] << 24)) >>> 0;
    if (p + 11 + size > buf.length) break;
    tags.push({ type, timestamp, body: buf.subarray(p + 11, p + 11 + size) });
    p += 11 + size + 4;
  }
  return tags;
}

/** Offsets of every chunk header in a well-formed chunk stream (to aim mutations at headers). */
function chunkHeaderOffsets(b: Buffer): number[] {
  const out: number[] = [];
  const streams = new Map<number, { len: number; type: number; left: number; ext: boolean }>();
  let chunkSize = 128;
  let p = 0;
  while (p < b.length) {
    out.push(p);
    const fmt = b[p] >> 6;
    let csid = b[p] & 0x3f;
    let q = p + 1;
    if (csid === 0) {
      csid = b[p + 1] + 64;
      q = p + 2;
    } else if (csid === 1) {
      csid = b[p + 1] + b[p + 2] * 256 + 64;
      q = p + 3;
    }
    const st = streams.get(csid) ?? { len: 0, type: 0, left: 0, ext: false };
    if (fmt <= 2) st.ext = b.readUIntBE(q, 3) === 0xffffff;
    if (fmt <= 1) {
      st.len = b.readUIntBE(q + 3, 3);
      st.type = b[q + 6];
    }
    q += [11, 7, 3, 0][fmt];
    if (st.ext) q += 4;
    const starting = st.left === 0;
    if (starting) st.left = st.len;
    const n = Math.min(st.left, chunkSize);
    if (st.type === MessageType.SetChunkSize && starting && n === st.len && n >= 4) chunkSize = b.readUInt32BE(q) & 0x7fffffff;
    st.left -= n;
    streams.set(csid, st);
    p = q + n;
  }
  assert.equal(p, b.length, 'recording does not parse as a chunk stream');
  return out;
}

// ---- mutations -------------------------------------------------------------------------------

interface Recording {
  name: string;
  /** Chunk stream bytes after the handshake, per concurrency slot (the slot's stream key substituted). */
  bySlot: Buffer[];
  headers: number[];
}

const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x03, 0x3f, 0x40, 0x41, 0x7f, 0x80, 0x81, 0xbf, 0xc0, 0xc3, 0xfe, 0xff];
const INTERESTING_U32 = [0, 1, 2, 127, 128, 4096, 0x7fffff, 0x800000, 0xffffff, 0x1000000, 0x1000001, 0x7fffffff, 0x80000000, 0xffffffff];
const MESSAGE_TYPES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 18, 19, 20, 22, 23, 255];

/** Applies 1..16 random mutations; returns the bytes to send and a short description. */
function mutate(input: Buffer, headers: number[], rng: () => number): { bytes: Buffer; ops: string[] } {
  const int = (n: number) => Math.floor(rng() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)];
  let b = input;
  const ops: string[] = [];
  const pos = () => {
    if (b.length === 0) return 0;
    const u = rng();
    if (u < 0.45) return Math.min(b.length - 1, pick(headers) + int(16)); // at or just after a chunk header
    if (u < 0.65) return int(Math.min(b.length, 2048)); // among the commands
    return int(b.length);
  };
  const header = () => Math.min(b.length - 1, pick(headers));
  const u32 = (v: number) => {
    const x = Buffer.allocUnsafe(4);
    x.writeUInt32BE(v >>> 0, 0);
    return x;
  };
  // `b` is written in place only once it is our own copy: the recordings are shared by all cases.
  let owned = false;
  const splice = (at: number, del: number, ins: Buffer = Buffer.alloc(0)) => {
    b = Buffer.concat([b.subarray(0, at), ins, b.subarray(Math.min(b.length, at + del))]);
    owned = true;
  };
  const randomBytes = (n: number) => {
    const x = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) x[i] = int(256);
    return x;
  };
  const copyOnWrite = () => {
    if (!owned) b = Buffer.from(b);
    owned = true;
  };

  const count = Math.min(16, 1 + Math.floor(-Math.log(1 - rng()) * 1.5));
  for (let k = 0; k < count && b.length > 0; k++) {
    const op = int(15);
    switch (op) {
      case 0: {
        const p = pos();
        const bit = int(8);
        copyOnWrite();
        b[p] ^= 1 << bit;
        ops.push(`flip@${p}.${bit}`);
        break;
      }
      case 1: {
        const p = pos();
        copyOnWrite();
        b[p] = rng() < 0.5 ? pick(INTERESTING_BYTES) : int(256);
        ops.push(`set@${p}=${b[p]}`);
        break;
      }
      case 2: {
        const p = pos();
        const n = Math.min(b.length - p, 1 + int(4));
        copyOnWrite();
        const v = rng() < 0.5 ? 0xff : int(256);
        for (let i = 0; i < n; i++) b[p + i] = rng() < 0.5 ? v : int(256);
        ops.push(`over@${p}x${n}`);
        break;
      }
      case 3: {
        const p = pos();
        const n = 1 + int(rng() < 0.9 ? 32 : 4096);
        splice(p, 0, randomBytes(n));
        ops.push(`ins@${p}+${n}`);
        break;
      }
      case 4: {
        const p = pos();
        const n = 1 + int(rng() < 0.9 ? 64 : 8192);
        splice(p, n);
        ops.push(`del@${p}-${n}`);
        break;
      }
      case 5: {
        const p = int(b.length);
        b = b.subarray(0, p);
        ops.push(`trunc@${p}`);
        break;
      }
      case 6: {
        // Duplicate a range somewhere else (repeated messages, replayed commands, split headers).
        const from = pos();
        const n = Math.min(b.length - from, 1 + int(rng() < 0.8 ? 256 : 16384));
        const to = pos();
        const times = rng() < 0.9 ? 1 : 1 + int(16);
        const dup = Buffer.concat(Array.from({ length: times }, () => b.subarray(from, from + n)));
        splice(to, 0, dup);
        ops.push(`dup@${from}x${n}->${to}*${times}`);
        break;
      }
      case 7: {
        // A huge (or just wrong) message length in a fmt 0/1 header.
        const h = header();
        const fmt = b[h] >> 6;
        const bh = (b[h] & 0x3f) === 0 ? 2 : (b[h] & 0x3f) === 1 ? 3 : 1;
        if (fmt > 1 || h + bh + 6 > b.length) break;
        const v = pick([0xffffff, 0x800001, 0x800000, 0x7fffff, 0x10000, 0, 1, 2, 3, int(0x1000000)]);
        copyOnWrite();
        b.writeUIntBE(v, h + bh + 3, 3);
        ops.push(`len@${h}=${v}`);
        break;
      }
      case 8: {
        // Another message type in a fmt 0/1 header.
        const h = header();
        const bh = (b[h] & 0x3f) === 0 ? 2 : (b[h] & 0x3f) === 1 ? 3 : 1;
        if (b[h] >> 6 > 1 || h + bh + 7 > b.length) break;
        copyOnWrite();
        b[h + bh + 6] = pick(MESSAGE_TYPES);
        ops.push(`type@${h}=${b[h + bh + 6]}`);
        break;
      }
      case 9: {
        // Another chunk header format, or chunk stream id (incl. the 2- and 3-byte forms).
        const h = header();
        copyOnWrite();
        if (rng() < 0.5) b[h] = (int(4) << 6) | (b[h] & 0x3f);
        else b[h] = (b[h] & 0xc0) | pick([0, 1, 2, 3, 4, 5, 6, 7, 63, int(64)]);
        ops.push(`hdr@${h}=${b[h]}`);
        break;
      }
      case 10: {
        // An extended timestamp marker in a header.
        const h = header();
        const bh = (b[h] & 0x3f) === 0 ? 2 : (b[h] & 0x3f) === 1 ? 3 : 1;
        if (b[h] >> 6 > 2 || h + bh + 3 > b.length) break;
        copyOnWrite();
        b.writeUIntBE(0xffffff, h + bh, 3);
        ops.push(`ext@${h}`);
        break;
      }
      case 11: {
        // A Set Chunk Size (often absurd) injected between chunks.
        const h = header();
        const size = rng() < 0.7 ? pick(INTERESTING_U32) : int(0x100000000);
        splice(h, 0, encodeMessage({ csid: 2, type: MessageType.SetChunkSize, streamId: 0, timestamp: 0, payload: u32(size) }, 128));
        ops.push(`chunksize@${h}=${size}`);
        break;
      }
      case 12: {
        // A control or data message with a short, long or random payload.
        const h = header();
        const type = pick([1, 2, 3, 4, 5, 6, 18, 20, 22, 17, 15]);
        const payload = rng() < 0.5 ? randomBytes(int(12)) : rng() < 0.5 ? u32(pick(INTERESTING_U32)) : randomBytes(int(600));
        const csid = rng() < 0.8 ? pick([2, 3, 4, 5, 6]) : 2 + int(400);
        splice(h, 0, encodeMessage({ csid, type, streamId: int(3), timestamp: int(0x100000000), payload }, pick([128, 4096, 60000])));
        ops.push(`msg@${h}:t${type}c${csid}n${payload.length}`);
        break;
      }
      case 13: {
        // An Abort for a (maybe in-progress) chunk stream.
        const h = header();
        splice(h, 0, encodeMessage({ csid: 2, type: MessageType.Abort, streamId: 0, timestamp: 0, payload: u32(pick([2, 3, 4, 5, 6, 0, 0xffffffff])) }, 128));
        ops.push(`abort@${h}`);
        break;
      }
      default: {
        // Swap two ranges' contents (reordered chunks).
        const a = pos();
        const c = pos();
        const n = Math.min(1 + int(512), b.length - Math.max(a, c));
        if (n <= 0 || Math.abs(a - c) < n) break;
        copyOnWrite();
        const tmp = Buffer.from(b.subarray(a, a + n));
        b.copy(b, a, c, c + n);
        tmp.copy(b, c);
        ops.push(`swap@${a}<>${c}x${n}`);
      }
    }
  }
  return { bytes: b, ops };
}

// ---- one fuzz case: a real connection --------------------------------------------------------

/**
 * Handshake, send `bytes` (sometimes in tiny writes), half-close, and wait for the server to
 * close. Resolves with null, or with what went wrong on the server's side.
 */
function sendCase(port: number, bytes: Buffer, rng: () => number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const hs = new ClientHandshake();
    const reader = new ChunkReader({ maxMessageSize: 16 * MiB, maxChunkStreams: 1024 });
    let failure: string | null = null;
    let shaken = false;
    // Checked twice: if this process was starved (a loaded machine), timers fire before the
    // socket events that were waiting; the second check comes after those have been handled.
    let timer = setTimeout(() => {
      timer = setTimeout(() => {
        failure ??= `connection still open ${CASE_TIMEOUT_MS} ms after the client's FIN (handshake ${shaken ? 'done' : 'not done'})`;
        socket.destroy();
      }, 1000);
    }, CASE_TIMEOUT_MS);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(failure);
    });
    socket.once('connect', () => socket.write(hs.start()));
    const check = (d: Buffer) => {
      try {
        reader.push(d);
      } catch (err) {
        failure ??= `server sent malformed RTMP: ${(err as Error).message}`;
        socket.destroy();
      }
    };
    socket.on('data', (d: Buffer) => {
      if (shaken) return check(d);
      try {
        const r = hs.push(d);
        for (const out of r.output) socket.write(out);
        if (!r.done) return;
        shaken = true;
        void send();
        if (r.rest.length) check(r.rest);
      } catch (err) {
        failure ??= `bad handshake from the server: ${(err as Error).message}`;
        socket.destroy();
      }
    });
    const send = async () => {
      let off = 0;
      if (rng() < 0.3) {
        // Tiny writes at first: chunk headers split across reads.
        const limit = Math.min(bytes.length, 256 + Math.floor(rng() * 4096));
        while (off < limit && !socket.destroyed) {
          const n = 1 + Math.floor(rng() * 24);
          socket.write(bytes.subarray(off, off + n));
          off += n;
          await new Promise((r) => setImmediate(r));
        }
      }
      if (socket.destroyed) return;
      if (off < bytes.length) socket.write(bytes.subarray(off));
      socket.end();
    };
  });
}

// ---- recordings ------------------------------------------------------------------------------

/** A TCP proxy that records what clients send; `sent()` is the bytes of the last connection. */
async function recordingProxy(upstreamPort: number) {
  const chunks: Buffer[] = [];
  const server = net.createServer((client) => {
    chunks.length = 0;
    const up = net.connect({ host: '127.0.0.1', port: upstreamPort });
    client.on('data', (d: Buffer) => {
      chunks.push(Buffer.from(d));
      up.write(d);
    });
    up.on('data', (d: Buffer) => client.write(d));
    client.on('end', () => up.end());
    up.on('end', () => client.end());
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent: () => Buffer.concat(chunks),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function replaceAll(buf: Buffer, from: Buffer, to: Buffer): Buffer {
  assert.equal(from.length, to.length);
  const out = Buffer.from(buf);
  let found = 0;
  for (let i = out.indexOf(from); i >= 0; i = out.indexOf(from, i + from.length)) {
    to.copy(out, i);
    found++;
  }
  assert.ok(found > 0, 'stream key not found in the recording');
  return out;
}

async function gcHeap(): Promise<number> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

async function healthy(server: TestServer) {
  const res = await fetch(`${server.http}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { status: string }).status, 'ok');
}

/** A normal ffmpeg publish, probed by ffprobe through the relay. */
async function publishAndPlay(server: TestServer) {
  const s = await server.createStream();
  const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 20 });
  try {
    await waitLive(server, s.id);
    const streams = await probe(`${server.rtmpUrl}/${s.id}`);
    assert.deepEqual(streams.map((x) => x.codec_name).sort(), ['aac', 'h264']);
  } finally {
    await pub.kill('SIGKILL');
  }
}

// ---- the tests -------------------------------------------------------------------------------

describe('RTMP fuzzing', () => {
  let server: TestServer;
  let tmp: string;
  const recordings: Recording[] = [];

  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '1' });
    watchHub(server.hub);
    tmp = await mkdtemp(path.join(os.tmpdir(), 'golive-fuzz-'));

    // A 2-second H.264 + AAC FLV from ffmpeg.
    const flvFile = path.join(tmp, 'src.flv');
    const gen = run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error',
      '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
      '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k',
      '-f', 'flv', '-y', flvFile,
    ], { timeoutMs: 30000 });
    assert.equal(await gen.exited, 0, gen.stderr());
    const tags = parseFlv(await readFile(flvFile));
    const media = tags.filter((t) => t.type === MessageType.Audio || t.type === MessageType.Video);
    const isConfig = (t: FlvTag) => t.body[1] === 0; // AVC and AAC packet type 0: the sequence header
    const configs = media.filter(isConfig);
    const frames = media.filter((t) => !isConfig(t)).slice(0, 100);
    assert.ok(configs.length >= 2 && frames.length >= 90, `FLV has ${configs.length} configs, ${frames.length} frames`);

    // The stream the recordings publish to; every slot gets a stream (and key) of its own.
    const rec = await server.createStream('recording');
    const slots = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => server.createStream(`fuzz ${i}`)));

    // Recording 1: our own publisher.
    const sent: Buffer[] = [];
    // tcUrl without the OS-chosen port, so that a seed replays the same bytes in every run.
    const tcUrl = 'rtmp://127.0.0.1:1935/live';
    const pub = await connectPublisher({ ...parseRtmpUrl(`${server.rtmpUrl}/${rec.key}`), tcUrl }, { onSend: (b) => sent.push(Buffer.from(b)) });
    pub.metadata({ duration: 0, width: 320, height: 240, videocodecid: 7, framerate: 25, audiocodecid: 10, audiosamplerate: 44100, audiosamplesize: 16, stereo: false, encoder: 'fuzz' });
    for (const t of [...configs, ...frames]) (t.type === MessageType.Video ? pub.video : pub.audio)(t.timestamp, t.body);
    await waitFor('recorded frames relayed', () => (server.hub.stats(rec.id)?.packetsIn ?? 0) >= configs.length + frames.length, 10000, 20);
    await pub.unpublish();
    const own = Buffer.concat(sent);

    // Recording 2: real ffmpeg through a recording proxy (its own chunking: fmt 1/2/3 headers, its chunk size).
    const proxy = await recordingProxy(server.rtmpPort!);
    const ff = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', flvFile, '-c', 'copy', '-rtmp_tcurl', tcUrl, '-f', 'flv', `rtmp://127.0.0.1:${proxy.port}/live/${rec.key}`], { timeoutMs: 30000 });
    assert.equal(await ff.exited, 0, ff.stderr());
    await proxy.close();
    const ffSession = proxy.sent().subarray(1 + 2 * HANDSHAKE_SIZE); // C0 C1 C2, then the chunk stream
    await waitFor('recording publisher gone', () => !server.hub.isLive(rec.id), 10000, 20);

    const key = Buffer.from(rec.key);
    for (const [name, bytes] of [['own client', own], ['ffmpeg', ffSession]] as const) {
      recordings.push({
        name,
        bySlot: slots.map((s) => replaceAll(bytes, key, Buffer.from(s.key))),
        headers: chunkHeaderOffsets(bytes),
      });
    }
    console.warn(
      `# fuzz: seed ${SEED} (replay: FUZZ_SEED=${SEED}), ${ONLY === null ? `${CASES} cases` : `case ${ONLY} only`}; recordings: ` +
        recordings.map((r) => `${r.name} ${r.bySlot[0].length} bytes / ${r.headers.length} chunks`).join(', '),
    );
  });

  after(async () => {
    await server?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  });

  test('the unmutated recordings publish and relay', async () => {
    for (const r of recordings) {
      let published = 0;
      const off = server.hub.events.on('publish', () => published++);
      const result = await sendCase(server.rtmpPort!, r.bySlot[0], () => 0.99);
      off();
      assert.equal(result, null);
      assert.equal(published, 1, `${r.name}: the recording publishes`);
    }
    assertNoCrash();
  });

  test(`${ONLY === null ? CASES : 1} mutated sessions: no crash, every connection closed, heap flat`, { timeout: 30 * 60_000 }, async (t) => {
    const port = server.rtmpPort!;
    let published = 0;
    const off = server.hub.events.on('publish', () => published++);
    const failures: string[] = [];
    let done = 0;

    const runCase = async (i: number, slot: number) => {
      const rng = prng(caseSeed(SEED, i));
      const r = recordings[Math.floor(rng() * recordings.length)];
      const { bytes, ops } = mutate(r.bySlot[slot], r.headers, rng);
      const failure = await sendCase(port, bytes, rng);
      if (failure) failures.push(`case ${i} (${r.name}: ${ops.join(' ')}): ${failure} -- replay: FUZZ_SEED=${SEED} FUZZ_ONLY=${i}`);
      done++;
    };
    const runRange = async (from: number, to: number) => {
      let next = from;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, slot) => {
          while (next < to) await runCase(next++, slot);
        }),
      );
    };

    const digest = () => createHash('sha256').update(Buffer.concat(recordings.flatMap((r) => r.bySlot))).digest('hex');
    const corpusDigest = digest();
    const t0 = Date.now();
    let heapEarly = 0;
    let heapLate = 0;
    if (ONLY !== null) {
      await runCase(ONLY, 0);
    } else {
      const warm = Math.min(200, CASES);
      await runRange(0, warm);
      heapEarly = await gcHeap();
      const progressEvery = Math.max(5000, Math.floor(CASES / 10));
      for (let from = warm; from < CASES; from += progressEvery) {
        await runRange(from, Math.min(CASES, from + progressEvery));
        if (CASES > 10_000) console.warn(`# fuzz: ${done}/${CASES} cases, ${Math.round((Date.now() - t0) / 1000)} s, heap ${Math.round(process.memoryUsage().heapUsed / MiB)} MiB`);
        assertNoCrash();
      }
    }
    const secs = (Date.now() - t0) / 1000;
    await waitFor('all RTMP connections closed', () => server.rtmp.connectionCount === 0, 5000, 20);
    // Every publish session ended with its connection; after the 1 s grace period nothing is live.
    await waitFor('no stream left live or reconnecting', () => server.hub.activeStats().length === 0, 5000, 50);
    heapLate = ONLY === null ? await gcHeap() : 0;
    off();
    reportListenerErrors((m) => t.diagnostic(m));
    t.diagnostic(
      `fuzz: ${done} cases in ${secs.toFixed(1)} s; ${published} got as far as publishing; ` +
        `heap after GC ${(heapEarly / MiB).toFixed(1)} -> ${(heapLate / MiB).toFixed(1)} MiB`,
    );

    assertNoCrash();
    assert.equal(digest(), corpusDigest, 'the mutations left the recordings intact (else no case can be replayed)');
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failing cases`);
    if (ONLY === null) assert.ok(published > done / 10, `only ${published} of ${done} cases got as far as publishing: the fuzzer is too shallow`);
    if (ONLY === null) assert.ok(heapLate - heapEarly < 64 * MiB, `heap grew ${((heapLate - heapEarly) / MiB).toFixed(1)} MiB`);
  });

  test('after the fuzzing: /healthz answers, ffmpeg publishes and ffprobe plays', async () => {
    await healthy(server);
    await publishAndPlay(server);
    await waitFor('all RTMP connections closed', () => server.rtmp.connectionCount === 0, 5000, 20);
    assertNoCrash();
  });

  // ---- hostile clients, one by one ---------------------------------------------------------

  const target = () => parseRtmpUrl(`${server.rtmpUrl}/x`);

  test('a 16 MiB message length in a chunk header is refused: connection closed', async () => {
    for (const length of [0xffffff, 8 * MiB + 1]) {
      const c = await RtmpClient.open(target(), { chunkSize: 128 });
      await c.connect();
      const header = Buffer.alloc(12);
      header[0] = CLIENT_CSID.Video; // fmt 0
      header.writeUIntBE(0, 1, 3);
      header.writeUIntBE(length, 4, 3);
      header[7] = MessageType.Video;
      header.writeUInt32LE(1, 8);
      c.write(Buffer.concat([header, Buffer.alloc(100, 0x17)]));
      await closedWithin(c.socket, 2000);
    }
    assertNoCrash();
  });

  test('70 different chunk stream ids: the first 64 are fine, then the connection is closed', async () => {
    const ack = (csid: number) => encodeMessage({ csid, type: MessageType.Acknowledgement, streamId: 0, timestamp: 0, payload: Buffer.alloc(4) }, 128);
    const c = await RtmpClient.open(target(), { chunkSize: 128 });
    await c.connect(); // chunk stream 3
    for (let csid = 4; csid < 66; csid++) c.write(ack(csid)); // 63 ids in all, 64 and 65 in the two-byte form
    assert.equal(typeof (await c.createStream()), 'number', 'still served after 63 chunk stream ids');
    for (let csid = 320; csid < 327; csid++) c.write(ack(csid)); // three-byte form; 70 ids in all
    await closedWithin(c.socket, 2000);
    assertNoCrash();
  });

  test('Set Chunk Size 0 (and 2^31) closes the connection', async () => {
    for (const size of [0, 0x80000000]) {
      const c = await RtmpClient.open(target(), { chunkSize: 128 });
      await c.connect();
      const payload = Buffer.alloc(4);
      payload.writeUInt32BE(size, 0);
      c.sendMessage({ csid: 2, type: MessageType.SetChunkSize, streamId: 0, timestamp: 0, payload });
      await closedWithin(c.socket, 2000);
    }
    assertNoCrash();
  });

  test('a wrong handshake version byte is refused without an answer', async () => {
    for (const version of [6, 0, 0xff, 0x16 /* TLS */, 0x47 /* "GET" */]) {
      const socket = net.connect({ host: '127.0.0.1', port: server.rtmpPort! });
      let received = 0;
      socket.on('data', (d: Buffer) => (received += d.length));
      socket.on('error', () => undefined);
      await new Promise((r) => socket.once('connect', r));
      const c0c1 = Buffer.alloc(1 + HANDSHAKE_SIZE, 0x5a);
      c0c1[0] = version;
      socket.write(c0c1);
      await closedWithin(socket, 2000);
      assert.equal(received, 0, `version ${version}: no S0 S1 S2`);
    }
    await waitFor('connections gone', () => server.rtmp.connectionCount === 0, 3000, 20);
    assertNoCrash();
  });

  test('chunk streams announcing 8 MiB messages and sending 128 bytes cost little memory', async () => {
    // 20 connections x 62 chunk streams, each starting an 8 MiB message: 170 KB sent. Assembly
    // buffers sized by the announced length would be ~10 GiB of allocations.
    const start = process.memoryUsage().arrayBuffers;
    const header = (csid: number) => {
      const h = Buffer.alloc(12 + 128, 0x27);
      h[0] = csid; // fmt 0
      h.writeUIntBE(0, 1, 3);
      h.writeUIntBE(8 * MiB, 4, 3);
      h[7] = MessageType.Video;
      h.writeUInt32LE(1, 8);
      return h;
    };
    const burst = Buffer.concat(Array.from({ length: 62 }, (_, i) => header(2 + i)));
    const clients = await Promise.all(Array.from({ length: 20 }, () => RtmpClient.open(target(), { chunkSize: 128 })));
    for (const c of clients) c.write(burst);
    await new Promise((r) => setTimeout(r, 300));
    const grown = process.memoryUsage().arrayBuffers - start;
    assert.equal(server.rtmp.connectionCount, 20, 'the connections are still open (nothing was wrong yet)');
    await Promise.all(clients.map((c) => c.close()));
    assert.ok(grown < 256 * MiB, `${(grown / MiB).toFixed(0)} MiB of buffers for 170 KB received`);
    await waitFor('connections gone', () => server.rtmp.connectionCount === 0, 3000, 20);
    assertNoCrash();
  });

  test('a refused connect (unknown application) gets a _error the client can read', async () => {
    const c = await RtmpClient.open(parseRtmpUrl(`rtmp://127.0.0.1:${server.rtmpPort}/nosuchapp/x`), { chunkSize: 128 });
    await assert.rejects(c.connect(), /_error: NetConnection\.Connect\.Rejected: Unknown application "nosuchapp"/);
    await closedWithin(c.socket, 3000);
    assertNoCrash();
  });

  test('silent clients: handshake and idle timeouts close them', async () => {
    const hub = new Hub();
    const registry = await StreamRegistry.open(null);
    const log = { info() {}, warn() {}, debug() {}, error() {} };
    const rtmp = new RtmpServer({ handshakeTimeoutMs: 300, idleTimeoutMs: 500, log }, rtmpRelay({ hub, registry, publishAuth: 'key', log }));
    await new Promise<void>((r) => rtmp.netServer.listen(0, '127.0.0.1', r));
    const port = (rtmp.netServer.address() as net.AddressInfo).port;
    try {
      // Sends nothing at all.
      const silent = net.connect({ host: '127.0.0.1', port });
      silent.on('error', () => undefined);
      // Sends half a C1, then nothing.
      const partial = net.connect({ host: '127.0.0.1', port });
      partial.on('error', () => undefined);
      partial.once('connect', () => partial.write(Buffer.alloc(100, 3)));
      const [a, b] = await Promise.all([closedWithin(silent, 3000), closedWithin(partial, 3000)]);
      assert.ok(a >= 250 && b >= 250, `closed after ${a} / ${b} ms, before the handshake timeout`);
      // Completes the handshake, then says nothing: the idle timeout.
      const idle = await RtmpClient.open({ host: '127.0.0.1', port, app: 'live', name: '', tcUrl: '' }, { chunkSize: 128 });
      const ms = await closedWithin(idle.socket, 3000);
      assert.ok(ms >= 400, `idle connection closed after ${ms} ms`);
      await waitFor('connections gone', () => rtmp.connectionCount === 0, 2000, 20);
    } finally {
      hub.close();
      await rtmp.close();
    }
    assertNoCrash();
  });

  test('ffmpeg with -rtmp_tcurl bogus does not hurt the server', async (t) => {
    const s = await server.createStream();
    const p = run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '2',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac',
      '-rtmp_tcurl', 'bogus', '-f', 'flv', `${server.rtmpUrl}/${s.key}`,
    ], { timeoutMs: 20000 });
    const code = await p.exited;
    t.diagnostic(`ffmpeg -rtmp_tcurl bogus exited ${code}${code === 0 ? '' : `: ${p.stderr().trim().split('\n').pop()}`}`);
    await healthy(server);
    await publishAndPlay(server);
    await waitFor('all RTMP connections closed', () => server.rtmp.connectionCount === 0, 5000, 20);
    assertNoCrash();
  });
});
