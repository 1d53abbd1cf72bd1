/**
 * The RTMP relay against real ffmpeg/ffprobe over loopback.
 */
import assert from 'node:assert/strict';
import { readFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectPlayer } from '../testing/rtmp-client';
import { MessageType } from '../rtmp/messages';
import { probe, publishTestStream, run, startTestServer, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';

async function flvInfo(file: string) {
  const p = run('ffprobe', ['-v', 'error', '-count_packets', '-show_entries', 'stream=codec_type,codec_name,nb_read_packets:format=duration', '-of', 'json', file], { timeoutMs: 20000 });
  assert.equal(await p.exited, 0, p.stderr());
  return JSON.parse(p.stdout().toString()) as { streams: Array<{ codec_type: string; codec_name: string; nb_read_packets: string }>; format: { duration: string } };
}

/** First packets a player gets: [flags, pts_time] per packet of the chosen stream. */
async function firstPackets(url: string, stream: 'v' | 'a', count: number) {
  const p = run('ffprobe', ['-v', 'error', '-select_streams', stream, '-show_entries', 'packet=flags,pts_time', '-read_intervals', `%+#${count}`, '-of', 'csv=p=0', url], { timeoutMs: 20000 });
  assert.equal(await p.exited, 0, p.stderr());
  return p.stdout().toString().trim().split('\n').map((l) => l.split(','));
}

describe('RTMP relay with real ffmpeg', () => {
  let server: TestServer;
  let tmp: string;
  const procs: Proc[] = [];
  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '10' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'golive-rtmp-'));
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await server.stop();
  });

  test('publish with the key, probe both tracks, pull ~5 s with two players at once, late player starts on a keyframe', async () => {
    const s = await server.createStream('relay test');
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { fps: 25, gop: 25 });
    procs.push(pub);
    const live = await waitLive(server, s.id);
    assert.equal((live as { video: { codec: string } }).video.codec, 'h264');

    const streams = await probe(`${server.rtmpUrl}/${s.id}`);
    const video = streams.find((x) => x.codec_type === 'video');
    const audio = streams.find((x) => x.codec_type === 'audio');
    assert.equal(video?.codec_name, 'h264');
    assert.equal(video?.width, 320);
    assert.equal(video?.height, 240);
    assert.equal(audio?.codec_name, 'aac');
    assert.equal(audio?.sample_rate, '44100');

    // Two players at once, 5 s each.
    const outs = [path.join(tmp, 'a.flv'), path.join(tmp, 'b.flv')];
    const players = outs.map((o) => run('ffmpeg', ['-v', 'error', '-i', `${server.rtmpUrl}/${s.id}`, '-t', '5', '-c', 'copy', '-y', o], { timeoutMs: 30000 }));
    procs.push(...players);
    await waitFor('both players attached', () => server.hub.stats(s.id)?.subscribers.rtmp === 2, 10000);
    const codes = await Promise.all(players.map((p) => p.exited));
    assert.deepEqual(codes, [0, 0], players.map((p) => p.stderr()).join('\n'));
    for (const o of outs) {
      const info = await flvInfo(o);
      const d = Number(info.format.duration);
      assert.ok(d >= 4.5 && d <= 5.6, `duration ${d}`);
      const v = info.streams.find((x) => x.codec_type === 'video');
      const a = info.streams.find((x) => x.codec_type === 'audio');
      assert.ok(Number(v?.nb_read_packets) >= 100, `video packets ${v?.nb_read_packets}`);
      assert.ok(Number(a?.nb_read_packets) >= 180, `audio packets ${a?.nb_read_packets}`);
    }
    assert.ok((await readFile(outs[0])).length > 10000);

    // A late player: its first video packet is a keyframe from the GOP cache, i.e. from before it joined.
    await new Promise((r) => setTimeout(r, 500));
    const joinedAtDts = (server.hub.stats(s.id)?.packetsIn ?? 0) > 0;
    assert.ok(joinedAtDts);
    const started = Date.now();
    const pkts = await firstPackets(`${server.rtmpUrl}/${s.id}`, 'v', 3);
    const elapsed = Date.now() - started;
    assert.equal(pkts[0][1].startsWith('K'), true, `first packet flags ${pkts[0][1]}`);
    // ffprobe start-up included; generous so a loaded machine does not fail it.
    assert.ok(elapsed < 5000, `first frames after ${elapsed} ms`);
    await pub.kill();
  });

  test('a late player gets its first frame within 1 s, and it is a keyframe (GOP cache)', async () => {
    const s = await server.createStream();
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { fps: 25, gop: 50 }); // 2 s GOPs: no waiting for the next one
    procs.push(pub);
    await waitLive(server, s.id);
    await new Promise((r) => setTimeout(r, 1300)); // join in the middle of a GOP
    let firstFrameAt = 0;
    let firstFrame: Buffer | null = null;
    const t0 = Date.now();
    const player = await connectPlayer(`${server.rtmpUrl}/${s.id}`, {
      onMessage: (m) => {
        // The first coded picture (AVC packet type 1), after the sequence header.
        if (!firstFrame && m.type === MessageType.Video && m.payload[1] === 1) {
          firstFrame = Buffer.from(m.payload.subarray(0, 2));
          firstFrameAt = Date.now();
        }
      },
    });
    try {
      await waitFor('first frame', () => firstFrame !== null, 5000);
      assert.equal(firstFrame![0] >> 4, 1, 'the first frame is a keyframe');
      assert.ok(firstFrameAt - t0 < 1000, `first frame after ${firstFrameAt - t0} ms (connect + play included)`);
    } finally {
      player.socket.destroy();
      await pub.kill();
    }
  });

  test('wrong and missing keys are refused, the stream stays down', async () => {
    const s = await server.createStream();
    for (const name of [`${s.id}_wrongsecret`, s.id, 'nokey']) {
      const pub = publishTestStream(`${server.rtmpUrl}/${name}`, { seconds: 3 });
      procs.push(pub);
      const code = await pub.exited;
      assert.notEqual(code, 0, `publishing to ${name} must fail`);
    }
    assert.equal(server.hub.isLive(s.id), false);
  });

  test('a second publisher with the right key is refused while the first is live', async () => {
    const s = await server.createStream();
    const first = publishTestStream(`${server.rtmpUrl}/${s.key}`);
    procs.push(first);
    await waitLive(server, s.id);
    const second = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 5 });
    procs.push(second);
    assert.notEqual(await second.exited, 0);
    assert.equal(first.child.exitCode, null, 'the first publisher is still running');
    const before = server.hub.stats(s.id)!.packetsIn;
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(server.hub.stats(s.id)!.packetsIn > before, 'the first publisher is still delivering');
    await first.kill();
  });

  test('a librtmp client (rtmpdump) plays the stream', async () => {
    const s = await server.createStream();
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`);
    procs.push(pub);
    await waitLive(server, s.id);
    const out = path.join(tmp, 'rtmpdump.flv');
    const dump = run('rtmpdump', ['-q', '-r', `${server.rtmpUrl}/${s.id}`, '--live', '-o', out], { timeoutMs: 30000 });
    procs.push(dump);
    await waitFor('rtmpdump attached', () => server.hub.stats(s.id)?.subscribers.rtmp === 1);
    await new Promise((r) => setTimeout(r, 3000));
    const code = await dump.kill('SIGTERM'); // rtmpdump closes its file cleanly on SIGTERM
    assert.ok(code === 0 || code === 2, `rtmpdump exit ${code}: ${dump.stderr()}`); // 2: "download may be incomplete"
    const info = await flvInfo(out);
    assert.equal(info.streams.find((x) => x.codec_type === 'video')?.codec_name, 'h264');
    assert.equal(info.streams.find((x) => x.codec_type === 'audio')?.codec_name, 'aac');
    assert.ok(Number(info.format.duration) >= 2, `got ${info.format.duration} s`);
    await pub.kill();
  });

  test('unknown stream: play is refused with StreamNotFound', async () => {
    const p = run('ffprobe', ['-v', 'error', `${server.rtmpUrl}/nosuchstream`], { timeoutMs: 15000 });
    assert.notEqual(await p.exited, 0);
  });

  test('a publisher that drops and comes back within the grace period: the player keeps receiving', async () => {
    const s = await server.createStream();
    let pub = publishTestStream(`${server.rtmpUrl}/${s.key}`);
    procs.push(pub);
    await waitLive(server, s.id);
    const out = path.join(tmp, 'resume.flv');
    const player = run('ffmpeg', ['-v', 'error', '-i', `${server.rtmpUrl}/${s.id}`, '-c', 'copy', '-t', '6', '-y', out], { timeoutMs: 40000 });
    procs.push(player);
    await waitFor('player attached', () => server.hub.stats(s.id)?.subscribers.rtmp === 1);
    await new Promise((r) => setTimeout(r, 1500));
    await pub.kill('SIGKILL'); // the broadcaster drops
    await waitFor('stream reconnecting', () => server.hub.stats(s.id)?.state === 'reconnecting');
    assert.equal(server.hub.stats(s.id)?.subscribers.rtmp, 1, 'the player stays attached during the grace period');
    pub = publishTestStream(`${server.rtmpUrl}/${s.key}`);
    procs.push(pub);
    await waitLive(server, s.id);
    const code = await player.exited;
    assert.equal(code, 0, player.stderr());
    const info = await flvInfo(out);
    assert.ok(Number(info.format.duration) >= 5, `player got ${info.format.duration} s across the gap`);
    await pub.kill();
  });
});

describe('RTMP relay: the end of a stream', () => {
  test('after the grace period players are told the stream ended and the directory drops it', async () => {
    const server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '1' });
    try {
      const s = await server.createStream();
      const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`);
      await waitLive(server, s.id);
      const player = run('ffmpeg', ['-v', 'error', '-i', `${server.rtmpUrl}/${s.id}`, '-c', 'copy', '-f', 'null', '-'], { timeoutMs: 30000 });
      await waitFor('player attached', () => server.hub.stats(s.id)?.subscribers.rtmp === 1);
      const listed = (await (await fetch(`${server.http}/api/streams`)).json()) as { streams: Array<{ id: string }> };
      assert.deepEqual(listed.streams.map((x) => x.id), [s.id]);
      await pub.kill('SIGKILL');
      assert.equal(await player.exited, 0, `the player ends by itself: ${player.stderr()}`);
      const after = (await (await fetch(`${server.http}/api/streams`)).json()) as { streams: unknown[] };
      assert.deepEqual(after.streams, []);
      const one = (await (await fetch(`${server.http}/api/streams/${s.id}`)).json()) as { state: string; live: boolean };
      assert.equal(one.live, false);
      assert.equal(one.state, 'idle');
    } finally {
      await server.stop();
    }
  });
});
