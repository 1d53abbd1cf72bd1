/**
 * /realtime/<id> against the real server: a real ffmpeg publisher over RTMP, real `ws` clients (and a raw socket that
 * never reads), ffprobe/ffmpeg decoding what a viewer received.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { boxes, parseFragment, parseInit } from '../testing/mp4-reader';
import { probe, publishTestStream, run, startTestServer, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Viewer {
  ws: WebSocket;
  /** Binary messages (fMP4). */
  messages: Buffer[];
  /** Text messages (the clock), parsed, with when each came. */
  texts: Array<{ json: unknown; at: number }>;
  bytes: () => number;
  /** Newest video decode time received (s), and when it came (Date.now()). */
  newestVideo: () => { seconds: number; at: number } | null;
  closed: Promise<{ code: number; reason: string }>;
}

function view(server: TestServer, id: string): Viewer {
  const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/realtime/${id}`);
  const messages: Buffer[] = [];
  const texts: Array<{ json: unknown; at: number }> = [];
  let newest: { seconds: number; at: number } | null = null;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      texts.push({ json: JSON.parse(data.toString()), at: Date.now() });
      return;
    }
    messages.push(data);
    const v = parseFragment(data).get(1);
    if (v) newest = { seconds: v.tfdt / 90_000, at: Date.now() };
  });
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return { ws, messages, texts, bytes: () => messages.reduce((n, m) => n + m.length, 0), newestVideo: () => newest, closed };
}

describe('realtime viewers (/realtime/<id>)', () => {
  let server: TestServer;
  let pub: Proc;
  let id: string;

  before(async () => {
    server = await startTestServer({ REALTIME_MAX_SOCKETS_PER_ADDRESS: '4', PUBLISHER_GRACE_SECONDS: '1' });
    const s = await server.createStream('realtime');
    id = s.id;
    pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { size: '320x240', fps: 25, gop: 25 });
    await waitLive(server, id);
  });
  after(async () => {
    await pub?.kill('SIGKILL');
    await server?.stop();
  });

  test('a viewer gets init, the GOP from its keyframe and every frame after: fMP4 that ffprobe and ffmpeg decode as H.264 + AAC', async () => {
    const v = view(server, id);
    await waitFor('3 s of media', () => (v.newestVideo()?.seconds ?? 0) - firstVideo(v) >= 3, 15_000);
    const api = (await (await fetch(`${server.http}/api/streams/${id}`)).json()) as { viewers: number };
    assert.equal(api.viewers, 1, 'a realtime viewer counts in the API');
    v.ws.close();
    const all = Buffer.concat(v.messages);
    const top = boxes(all, 0, all.length);
    assert.deepEqual(top.slice(0, 2).map((b) => b.type), ['ftyp', 'moov']);
    const rest = top.slice(2);
    assert.ok(rest.length > 100, `fragments: ${rest.length}`);
    assert.equal(top.reduce((n, b) => Math.max(n, b.end), 0), all.length, 'whole boxes only');
    for (let i = 0; i < rest.length; i += 2) {
      assert.equal(rest[i].type, 'moof');
      assert.equal(rest[i + 1]?.type, 'mdat');
    }
    const tracks = parseInit(all);
    assert.equal(tracks.get(1)?.kind, 'video');
    assert.equal(tracks.get(2)?.kind, 'audio');
    // The first fragment is a video keyframe (sample flags: sync): the start of the cached GOP.
    const firstMoof = all.subarray(rest[0].start - 8, rest[1].end);
    assert.ok(parseFragment(firstMoof).has(1), 'first fragment is video');
    assert.equal(firstSampleFlags(firstMoof), 0x02000000, 'first frame is a keyframe');

    const file = path.join(server.dataDir, 'realtime.mp4');
    await writeFile(file, all);
    const streams = await probe(file);
    const video = streams.find((s) => s.codec_type === 'video');
    const audio = streams.find((s) => s.codec_type === 'audio');
    assert.equal(video?.codec_name, 'h264');
    assert.equal(video?.width, 320);
    assert.equal(video?.height, 240);
    assert.equal(audio?.codec_name, 'aac');
    const decode = run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { timeoutMs: 30_000 });
    assert.equal(await decode.exited, 0, decode.stderr());
    assert.equal(decode.stderr().trim(), '', 'decodes without errors');
    const frames = run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
    assert.equal(await frames.exited, 0);
    assert.ok(Number(frames.stdout().toString().trim()) >= 75, `frames decoded: ${frames.stdout().toString()}`);
  });

  test('clock messages: one right after the init segment, then about every second; media time and wall time of the newest frame', async () => {
    const v = view(server, id);
    await waitFor('3 clock messages', () => v.texts.length >= 3, 10_000);
    v.ws.close();
    const clocks = v.texts.map((t) => {
      const c = (t.json as { clock: { mediaMs: number; wallMs: number } }).clock;
      assert.equal(typeof c.mediaMs, 'number');
      assert.equal(typeof c.wallMs, 'number');
      return { ...c, at: t.at };
    });
    // The first one follows the init segment + GOP: its media time is that of the newest frame sent with them.
    const firstBinary = Buffer.concat(v.messages.slice(0, 1));
    const frags = boxes(firstBinary, 0, firstBinary.length).filter((b) => b.type === 'moof');
    assert.ok(frags.length > 0, 'the init message holds the GOP');
    // Server and test share a clock: the wall time is when the frame came in, a little before we got the message.
    for (const c of clocks) assert.ok(c.wallMs <= c.at && c.at - c.wallMs < 2000, `wallMs ${c.wallMs} vs received ${c.at}`);
    for (let i = 1; i < clocks.length; i++) {
      const media = clocks[i].mediaMs - clocks[i - 1].mediaMs;
      const wall = clocks[i].wallMs - clocks[i - 1].wallMs;
      assert.ok(media > 0, 'the stream timeline moves on');
      // Media time and wall time advance together (a real-time publisher), within a few frames.
      assert.ok(Math.abs(media - wall) < 300, `media ${media} ms vs wall ${wall} ms`);
    }
    // The media time is on the fragments' timeline (tfdt, video in 90 kHz): not from 0, near the newest frame seen.
    const newest = v.newestVideo()!;
    const last = clocks.at(-1)!;
    assert.ok(Math.abs(last.mediaMs - newest.seconds * 1000) < 1500, `clock ${last.mediaMs} ms vs newest tfdt ${newest.seconds * 1000} ms`);
  });

  test('every viewer of a stream is sent the same fragments, each encoded once', async () => {
    const a = view(server, id);
    const b = view(server, id);
    await waitFor('both receiving', () => a.messages.length > 20 && b.messages.length > 20);
    const before = server.realtime.encodedFragments(id)!;
    await sleep(2000);
    const encoded = server.realtime.encodedFragments(id)! - before;
    a.ws.close();
    b.ws.close();
    // ~25 video + ~43 audio frames a second (~136 in 2 s): encoded once, not once per viewer (~272).
    assert.ok(encoded > 60 && encoded < 2 * 80, `fragments encoded in 2 s with two viewers: ${encoded}`);
  });

  test('unknown stream id: closed with 4404', async () => {
    for (const bad of ['nosuchstream', 'a%2F..', '', 'x'.repeat(100)]) {
      const v = view(server, bad);
      const { code, reason } = await v.closed;
      assert.equal(code, 4404, `/realtime/${bad}`);
      assert.equal(reason, 'no such stream');
    }
  });

  test('more sockets than REALTIME_MAX_SOCKETS_PER_ADDRESS from one address: refused with 4429', async () => {
    const open = [view(server, id), view(server, id), view(server, id), view(server, id)];
    await waitFor('4 viewers', () => open.every((v) => v.messages.length > 0));
    const fifth = view(server, id);
    const { code } = await fifth.closed;
    assert.equal(code, 4429);
    assert.equal(fifth.messages.length, 0);
    for (const v of open) v.ws.close();
    await Promise.all(open.map((v) => v.closed));
    await waitFor('sockets released', () => server.realtime.counts().sockets === 0);
    const again = view(server, id);
    await waitFor('a slot again', () => again.messages.length > 0);
    again.ws.close();
  });

  test('garbage from a viewer is ignored, an oversize message closes it (1009), a broken frame (1002); others go on', async () => {
    const good = view(server, id);
    const noisy = view(server, id);
    await waitFor('receiving', () => good.messages.length > 0 && noisy.messages.length > 0);
    for (let i = 0; i < 200; i++) {
      noisy.ws.send(i % 2 ? '{"type":"start"' : Buffer.from([0xff, 0x00, i & 0xff]));
    }
    const n = noisy.messages.length;
    await waitFor('still receiving after garbage', () => noisy.messages.length > n + 10);
    noisy.ws.send(Buffer.alloc(64 * 1024, 1));
    assert.equal((await noisy.closed).code, 1009);

    // A raw client: a valid handshake, then a frame with a reserved opcode.
    const raw = await rawViewer(server, id);
    raw.socket.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4]));
    await new Promise((r) => raw.socket.once('close', r));

    const m = good.messages.length;
    await waitFor('the good viewer goes on', () => good.messages.length > m + 10);
    const health = await fetch(`${server.http}/healthz`);
    assert.equal(health.status, 200);
    const body = (await health.json()) as { realtime: { sockets: number; viewers: number } };
    assert.deepEqual(body.realtime, { sockets: 1, viewers: 1 }, 'only the good viewer is left');
    good.ws.close();
  });

  test('an ended stream closes its viewers with 1000 "ended"', async () => {
    const s = await server.createStream('ends');
    const p = publishTestStream(`${server.rtmpUrl}/${s.key}`, { size: '160x120' });
    try {
      await waitLive(server, s.id);
      const v = view(server, s.id);
      await waitFor('receiving', () => v.messages.length > 5);
      await p.kill('SIGKILL');
      const { code, reason } = await v.closed;
      assert.equal(code, 1000);
      assert.equal(reason, 'ended');
    } finally {
      await p.kill('SIGKILL');
    }
  });

  test('a viewer that comes before the broadcaster waits, then gets init and media from the first keyframe', async () => {
    const s = await server.createStream('later');
    const v = view(server, s.id);
    await new Promise((r) => v.ws.once('open', r));
    await sleep(300);
    assert.equal(v.messages.length, 0);
    const p = publishTestStream(`${server.rtmpUrl}/${s.key}`, { size: '160x120' });
    try {
      await waitFor('media', () => v.messages.length > 10);
      const all = Buffer.concat(v.messages);
      const top = boxes(all, 0, all.length);
      assert.deepEqual(top.slice(0, 3).map((b) => b.type), ['ftyp', 'moov', 'moof']);
      const first = all.subarray(top[2].start - 8, top[3].end);
      assert.ok(parseFragment(first).has(1), 'first fragment is video');
      assert.equal(firstSampleFlags(first), 0x02000000, 'first frame is a keyframe');
      v.ws.close();
    } finally {
      await p.kill('SIGKILL');
    }
  });

  test('a stream without H.264 or AAC (MP3 audio only): closed with 4415', async () => {
    const s = await server.createStream('mp3');
    const p = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-c:a', 'libmp3lame', '-f', 'flv', `${server.rtmpUrl}/${s.key}`]);
    try {
      await waitFor('live', async () => ((await (await fetch(`${server.http}/api/streams/${s.id}`)).json()) as { live: boolean }).live);
      const v = view(server, s.id);
      const { code, reason } = await v.closed;
      assert.equal(code, 4415);
      assert.equal(reason, 'this stream is not H.264/AAC');
      assert.equal(v.messages.length, 0);
    } finally {
      await p.kill('SIGKILL');
    }
  });

  test('the drain (SIGTERM) closes viewers with 1012 "server restarting"', async () => {
    const v = view(server, id);
    await waitFor('receiving', () => v.messages.length > 5);
    const stopping = server.close();
    const { code, reason } = await v.closed;
    assert.equal(code, 1012);
    assert.equal(reason, 'server restarting');
    await stopping;
  });
});

describe('a realtime viewer that never reads', () => {
  let server: TestServer;
  let pub: Proc;
  let id: string;

  before(async () => {
    server = await startTestServer();
    const s = await server.createStream('heavy');
    id = s.id;
    // Noise does not compress: ~6 Mbit/s, so an unread socket fills in seconds.
    pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { size: '640x360', fps: 25, gop: 25, videoBitrate: '6M', extra: ['-vf', 'noise=alls=80:allf=t+u'] });
    await waitLive(server, id);
  });
  after(async () => {
    await pub?.kill('SIGKILL');
    await server?.stop();
  });

  test('stays bounded on the server (skipped, then dropped) while another viewer keeps real time', async (t) => {
    const stalled = await rawViewer(server, id);
    stalled.socket.pause();
    const fast = view(server, id);
    const startedAt = Date.now();
    let maxQueued = 0;
    let sawSkips = false;
    let slowGone = false;
    const lags: number[] = [];
    let firstMedia: { seconds: number; at: number } | null = null;
    while (Date.now() - startedAt < 25_000) {
      await sleep(200);
      const queued = server.realtime.queued();
      for (const q of queued) maxQueued = Math.max(maxQueued, q.bytes);
      const stats = server.hub.stats(id);
      if ((stats?.droppedForSlowSubscribers ?? 0) > 0) sawSkips = true;
      const newest = fast.newestVideo();
      if (newest) {
        firstMedia ??= newest;
        // How far the fast viewer's media time fell behind the wall clock since its start.
        lags.push(Date.now() - firstMedia.at - (newest.seconds - firstMedia.seconds) * 1000);
      }
      if (queued.length === 1 && sawSkips) {
        slowGone = true;
        if (Date.now() - startedAt > 8000) break;
      }
    }
    // Its socket is cut on the server too (the close frame cannot get through a full socket).
    await waitFor('stalled socket cut', () => server.realtime.counts().sockets === 1, 5000);
    fast.ws.close();
    stalled.socket.destroy();
    t.diagnostic(`most queued for one viewer: ${maxQueued} bytes; fast viewer's worst lag: ${Math.max(...lags.slice(5))} ms`);
    assert.ok(sawSkips, 'the hub skipped frames for the stalled viewer');
    assert.ok(slowGone, 'the stalled viewer was disconnected (too slow)');
    // Hub threshold (2 MiB) + one start (a GOP, ~1 s here) + one frame: never the whole stream.
    assert.ok(maxQueued < 4 * 1024 * 1024, `bytes queued on the server for one viewer: ${maxQueued}`);
    assert.ok(lags.length > 20, 'the fast viewer received media');
    // The fast viewer's media time keeps up with the wall clock (a stalled one would fall behind by seconds).
    const worst = Math.max(...lags.slice(5));
    assert.ok(worst < 3000, `fast viewer fell behind by ${worst} ms`);
    assert.ok(Date.now() - fast.newestVideo()!.at < 2000, 'the fast viewer was still receiving at the end');
  });
});

function firstVideo(v: Viewer): number {
  for (const m of v.messages) {
    const t = parseFragment(m).get(1);
    if (t) return t.tfdt / 90_000;
  }
  return Infinity;
}

/** trun first sample flags of the first traf of a moof (we always write per-sample flags). */
function firstSampleFlags(b: Buffer): number {
  const moof = boxes(b, 0, b.length).find((x) => x.type === 'moof')!;
  const traf = boxes(b, moof.start, moof.end).find((x) => x.type === 'traf')!;
  const trun = boxes(b, traf.start, traf.end).find((x) => x.type === 'trun')!;
  const flags = b.readUInt32BE(trun.start) & 0xffffff;
  let r = trun.start + 8;
  if (flags & 0x1) r += 4;
  if (flags & 0x4) r += 4;
  if (flags & 0x100) r += 4;
  if (flags & 0x200) r += 4;
  return b.readUInt32BE(r);
}

/** A WebSocket handshake on a plain socket (so a test can stop reading it, or send broken frames). */
async function rawViewer(server: TestServer, id: string): Promise<{ socket: net.Socket }> {
  const socket = net.connect(server.httpPort, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  socket.write(
    `GET /realtime/${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        socket.off('data', onData);
        if (!head.startsWith('HTTP/1.1 101')) reject(new Error(head.split('\r\n')[0]));
        else resolve();
      }
    };
    socket.on('data', onData);
  });
  return { socket };
}
