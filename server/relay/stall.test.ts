/**
 * A stalled RTMP player on a high-bitrate stream: it stops reading, the server must bound what
 * it buffers for it, keep the other players in real time, skip it to keyframes, and finally
 * disconnect it (hub stuckMs, 10 s by default).
 *
 * The stream is ~8 Mbit/s: 640x360 testsrc with heavy temporal noise at 30 fps (cheap to
 * encode, expensive in bits: ffmpeg needs ~20 % of one core for it, where 720p testsrc at
 * ultrafast compresses to ~1.6 Mbit/s whatever -b:v says).
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { MediaPacket } from '../codec/flv';
import type { SubscriberSink } from '../media/hub';
import { publishTestStream, startTestServer, waitLive, type Proc, type TestServer } from '../testing/harness';
import { connectPlayer, type RtmpPlayer } from '../testing/rtmp-client';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a stalled RTMP player on an 8 Mbit/s stream', () => {
  let server: TestServer;
  let pub: Proc | null = null;
  const players: RtmpPlayer[] = [];
  /** Server-side sockets by the client's port. */
  const serverSockets = new Map<number, net.Socket>();

  before(async () => {
    server = await startTestServer();
    server.rtmp.netServer.on('connection', (s: net.Socket) => serverSockets.set(s.remotePort ?? 0, s));
  });
  after(async () => {
    await Promise.all(players.map((p) => p.close()));
    await pub?.kill('SIGKILL');
    await server.stop();
  });

  test('bounded server buffer, healthy player in real time, drops counted, stalled player disconnected', { timeout: 120_000 }, async (t) => {
    const s = await server.createStream('stall');
    pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, {
      size: '640x360',
      fps: 30,
      gop: 30,
      videoBitrate: '8M',
      extra: ['-vf', 'noise=alls=40:allf=t'],
    });
    await waitLive(server, s.id);

    // What the publisher delivers, as the hub sees it (a subscriber that is never slow).
    let ingestDts = -1;
    const probeSink: SubscriberSink = {
      kind: 'test-probe',
      start() {},
      packet(p: MediaPacket) {
        if (p.dts > ingestDts) ingestDts = p.dts;
      },
      unpublished() {},
      end() {},
      bufferedBytes: () => 0,
    };
    const unsubscribeProbe = server.hub.subscribe(s.id, probeSink);

    const url = `${server.rtmpUrl}/${s.id}`;
    const healthy = await connectPlayer(url);
    players.push(healthy);
    const stalled = await connectPlayer(url, { pause: true });
    players.push(stalled);
    const stalledOnServer = serverSockets.get(stalled.socket.localPort ?? -1);
    assert.ok(stalledOnServer, 'found the stalled player on the server');
    let serverClosedAt = 0;
    stalledOnServer.once('close', () => (serverClosedAt = Date.now()));

    const t0 = Date.now();
    const rss0 = process.memoryUsage().rss;
    const samples: Array<{ t: number; healthyTs: number; ingest: number; writable: number; rss: number; dropped: number; rtmpSubs: number }> = [];
    let droppedAtDisconnect = -1;
    let disconnectedAt = 0;
    // ~15 s of observation at least; the stalled player is dropped after ~5 s of filling buffers + 10 s of skipping.
    while (Date.now() - t0 < 35_000) {
      await sleep(250);
      const st = server.hub.stats(s.id);
      assert.ok(st, 'the stream is still there');
      const rtmpSubs = st.subscribers.rtmp ?? 0;
      samples.push({
        t: Date.now() - t0,
        healthyTs: healthy.media.lastTimestamp,
        ingest: ingestDts,
        writable: stalledOnServer.destroyed ? 0 : stalledOnServer.writableLength,
        rss: process.memoryUsage().rss,
        dropped: st.droppedForSlowSubscribers,
        rtmpSubs,
      });
      if (!disconnectedAt && rtmpSubs < 2) {
        disconnectedAt = Date.now();
        droppedAtDisconnect = st.droppedForSlowSubscribers;
      }
      if (serverClosedAt && Date.now() - t0 >= 15_000 && Date.now() - disconnectedAt >= 2000) break;
    }
    unsubscribeProbe();
    const last = samples[samples.length - 1];
    const maxWritable = Math.max(...samples.map((x) => x.writable));
    const maxRss = Math.max(...samples.map((x) => x.rss));
    t.diagnostic(
      `stalled player: server buffer max ${(maxWritable / MiB).toFixed(2)} MiB, dropped ${last.dropped} packets, ` +
        `unsubscribed after ${disconnectedAt ? ((disconnectedAt - t0) / 1000).toFixed(1) : '-'} s, socket closed after ` +
        `${serverClosedAt ? ((serverClosedAt - t0) / 1000).toFixed(1) : '-'} s; RSS +${((maxRss - rss0) / MiB).toFixed(0)} MiB; ` +
        `stream ${server.hub.stats(s.id)?.bitrateKbps} kbit/s`,
    );

    // The stream really is several Mbit/s (else nothing here is tested).
    const mediaMs = last.healthyTs - healthy.media.firstTimestamp;
    const mbps = (healthy.media.bytes * 8) / (mediaMs / 1000) / 1e6;
    assert.ok(mbps >= 4, `stream is only ${mbps.toFixed(1)} Mbit/s`);

    // What the server queues for the stalled socket stays near maxBufferedBytes (2 MiB) plus a frame or so.
    assert.ok(maxWritable > 1 * MiB, `the stalled socket's server buffer never filled (max ${maxWritable} bytes): was it stalled at all?`);
    assert.ok(maxWritable < 3 * MiB, `the server buffered ${(maxWritable / MiB).toFixed(2)} MiB for the stalled socket`);
    assert.ok(maxRss - rss0 < 100 * MiB, `RSS grew ${((maxRss - rss0) / MiB).toFixed(0)} MiB`);

    // The hub skipped packets for the slow player, and then dropped it: its socket closed.
    assert.ok(droppedAtDisconnect > 0, 'packets were dropped for the slow subscriber before it was disconnected');
    assert.ok(disconnectedAt > 0, 'the stalled player was unsubscribed');
    assert.ok(serverClosedAt > 0, "the server closed the stalled player's socket");
    assert.ok(serverClosedAt - t0 < 30_000, `closed only after ${serverClosedAt - t0} ms`);
    // Once it is gone nothing more is dropped: the healthy player never was slow.
    assert.equal(last.dropped, droppedAtDisconnect, 'packets dropped after the stalled player left');

    // The healthy player kept up in real time throughout: in every 5 s of wall clock it got >= 4 s
    // of media, and it never fell more than 1.5 s behind what the publisher delivered.
    for (const x of samples) {
      if (x.t < 5000) continue;
      const before5 = samples.findLast((y) => y.t <= x.t - 5000);
      if (!before5) continue;
      const got = x.healthyTs - before5.healthyTs;
      assert.ok(got >= 4000, `healthy player got ${got} ms of media between ${before5.t} and ${x.t} ms`);
      assert.ok(x.ingest - x.healthyTs < 1500, `healthy player ${x.ingest - x.healthyTs} ms behind the publisher at ${x.t} ms`);
    }
    assert.equal(healthy.closeReason, null, 'the healthy player is still connected');

    // The stalled client sees the end once it reads again: its buffered media, then EOF or a reset.
    stalled.resume();
    const reason = await Promise.race([stalled.closed, sleep(5000).then(() => 'still open')]);
    assert.notEqual(reason, 'still open', 'the stalled client saw its connection end');

    await pub.kill();
  });
});
