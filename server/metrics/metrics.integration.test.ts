/**
 * GET /metrics on the real server: Prometheus text that a strict reader accepts, the Bearer token, and counters and
 * gauges that follow a real ffmpeg publisher, a real ffmpeg RTMP player and LL-HLS requests as they come and go.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import type { SubscriberSink } from '../media/hub';
import { startNginxRtmp } from '../testing/nginx';
import { makeRecording, startBroadcast } from '../testing/process';
import { operatorHeaders, publishTestStream, run, startTestServer, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';
import { parseExposition, type Exposition } from './prom-text';

const TOKEN = 'metrics-token-0123456789abcdef';

describe('/metrics', () => {
  let server: TestServer;
  const procs: Proc[] = [];
  before(async () => {
    server = await startTestServer({ METRICS_TOKEN: TOKEN, PUBLISHER_GRACE_SECONDS: '30', FORWARD_RETRY_MIN_SECONDS: '0.3', FORWARD_RETRY_MAX_SECONDS: '1' });
  });
  after(async () => {
    for (const p of procs) await p.kill('SIGKILL');
    await server.stop();
  });

  async function scrape(): Promise<Exposition> {
    const res = await fetch(`${server.http}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parseExposition(await res.text());
  }

  test('without the token, or with a wrong or malformed one: 401, and no metrics in the body', async () => {
    for (const auth of [undefined, 'Bearer wrong-token-wrong-token', `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, `Bearer  ${TOKEN}`, 'Bearer ' + 'x'.repeat(5000)]) {
      const res = await fetch(`${server.http}/metrics`, { headers: auth ? { Authorization: auth } : {} });
      assert.equal(res.status, 401, String(auth).slice(0, 40));
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.doesNotMatch(await res.text(), /golive_/);
    }
    assert.equal((await fetch(`${server.http}/metrics`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } })).status, 405);
  });

  test('an idle server: valid text, every family typed, zero streams', async () => {
    const m = await scrape();
    for (const [name, type] of [
      ['golive_streams', 'gauge'],
      ['golive_publishers', 'gauge'],
      ['golive_viewers', 'gauge'],
      ['golive_ffmpeg_processes', 'gauge'],
      ['golive_hls_held_requests', 'gauge'],
      ['golive_hls_part_ready_delay_seconds', 'histogram'],
      ['golive_event_loop_delay_seconds', 'gauge'],
      ['golive_dropped_packets_total', 'counter'],
      ['golive_sent_bytes_total', 'counter'],
      ['golive_received_bytes_total', 'counter'],
      ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
      ['process_cpu_seconds_total', 'counter'],
    ]) assert.equal(m.types.get(name), type, name);
    assert.equal(m.get('golive_streams', { state: 'live' }), 0);
    assert.equal(m.get('golive_publishers', { kind: 'rtmp' }), 0);
    assert.equal(m.get('golive_viewers', { protocol: 'rtmp' }), 0);
    assert.equal(m.get('golive_hls_part_ready_delay_seconds_count'), 0);
  });

  test('counters and gauges follow a publisher, players and LL-HLS viewers', async () => {
    const s = await server.createStream('metrics');
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { fps: 25, gop: 25 });
    procs.push(pub);
    await waitLive(server, s.id);
    let m = await scrape();
    assert.equal(m.get('golive_streams', { state: 'live' }), 1);
    assert.equal(m.get('golive_streams', { state: 'registered' }), 1);
    assert.equal(m.get('golive_publishers', { kind: 'rtmp' }), 1);
    const inBefore = m.get('golive_received_bytes_total', { source: 'media' })!;
    const rtmpIn = m.get('golive_received_bytes_total', { source: 'rtmp' })!;
    assert.ok(inBefore > 0 && rtmpIn >= inBefore, `media ${inBefore} <= rtmp ${rtmpIn}`);

    // A real RTMP player (ffmpeg): one RTMP viewer, RTMP bytes going out.
    const player = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', `${server.rtmpUrl}/${s.id}`, '-c', 'copy', '-f', 'null', '-']);
    procs.push(player);
    m = await waitFor('an RTMP viewer', async () => {
      const x = await scrape();
      return x.get('golive_viewers', { protocol: 'rtmp' }) === 1 && x;
    });
    const rtmpOut = m.get('golive_sent_bytes_total', { protocol: 'rtmp' })!;
    await waitFor('RTMP bytes out to grow', async () => (await scrape()).get('golive_sent_bytes_total', { protocol: 'rtmp' })! > rtmpOut + 10_000);

    // LL-HLS: a viewer, parts published (part-ready histogram), bytes out, a held blocking request.
    const base = `${server.http}/hls/${s.id}`;
    const pl = await fetch(`${base}/index.m3u8`, { headers: { 'User-Agent': 'metrics-viewer' } });
    assert.equal(pl.status, 200);
    const text = await pl.text();
    await waitFor('parts in the histogram', async () => ((await scrape()).get('golive_hls_part_ready_delay_seconds_count') ?? 0) >= 3, 20000);
    m = await scrape();
    assert.equal(m.get('golive_viewers', { protocol: 'hls' }), 1);
    assert.ok(m.get('golive_sent_bytes_total', { protocol: 'hls' })! >= text.length);
    // Most parts are ready long before 2.5 s of their newest packet (the segmenter cuts on the next frame).
    assert.ok(m.get('golive_hls_part_ready_delay_seconds_bucket', { le: '2.5' })! >= 1);
    const seg = server.hls.segmenter(s.id)!;
    const next = seg.nextPart();
    const held = fetch(`${base}/index.m3u8?_HLS_msn=${next.msn + 1}&_HLS_part=0`);
    await waitFor('a held request', async () => (await scrape()).get('golive_hls_held_requests') === 1, 5000, 20);
    assert.equal((await held).status, 200);

    // A subscriber that never takes anything: the hub skips its packets, and the counter says so.
    const slow: SubscriberSink = { kind: 'slow-test', start() {}, packet() {}, unpublished() {}, end() {}, bufferedBytes: () => 1 << 30 };
    const dropsBefore = (await scrape()).get('golive_dropped_packets_total')!;
    const off = server.hub.subscribe(s.id, slow);
    await waitFor('dropped packets', async () => (await scrape()).get('golive_dropped_packets_total')! > dropsBefore + 10);
    off();

    // The player goes: no RTMP viewer. The publisher goes: the stream waits for it (reconnecting), no publisher.
    await player.kill('SIGKILL');
    await waitFor('no RTMP viewer', async () => (await scrape()).get('golive_viewers', { protocol: 'rtmp' }) === 0);
    await pub.kill('SIGKILL');
    m = await waitFor('the publisher gone', async () => {
      const x = await scrape();
      return x.get('golive_publishers', { kind: 'rtmp' }) === 0 && x;
    });
    assert.equal(m.get('golive_streams', { state: 'live' }), 0);
    assert.equal(m.get('golive_streams', { state: 'reconnecting' }), 1);
    // Counters never go back, closed connections included.
    assert.ok(m.get('golive_sent_bytes_total', { protocol: 'rtmp' })! > rtmpOut);
    assert.ok(m.get('golive_received_bytes_total', { source: 'rtmp' })! >= rtmpIn);
  });

  test('recordings, forward targets and realtime viewers: by state, bytes recorded and forwarded', async () => {
    const nginx = await startNginxRtmp();
    try {
      let m = await scrape();
      const recording0 = m.get('golive_recordings', { state: 'recording' })!;
      const ended0 = m.get('golive_recordings', { state: 'ended' })!;
      const recorded0 = m.get('golive_recorded_bytes_total')!;
      const forwarded0 = m.get('golive_forward_sent_bytes_total')!;
      assert.equal(m.get('golive_forward_targets', { state: 'live' }), 0);
      assert.equal(m.get('golive_viewers', { protocol: 'realtime' }), 0);
      const s = await server.createStream('metrics-more');
      for (const t of [
        { url: nginx.url('metrics-forward-key-0123456789'), label: 'ok' },
        { url: nginx.url('metrics-forward-key-0123456789', 'wrongapp'), label: 'refused' },
      ]) {
        const res = await fetch(`${server.http}/api/streams/${s.id}/forwards`, { method: 'POST', headers: operatorHeaders(), body: JSON.stringify(t) });
        assert.equal(res.status, 201);
      }
      const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`);
      procs.push(pub);
      await waitLive(server, s.id);
      const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/realtime/${s.id}`);
      ws.on('error', () => undefined);
      m = await waitFor('recording, forwarding, a realtime viewer', async () => {
        const x = await scrape();
        return (
          x.get('golive_recordings', { state: 'recording' }) === recording0 + 1 &&
          x.get('golive_recorded_bytes_total')! > recorded0 + 50_000 &&
          x.get('golive_forward_targets', { state: 'live' }) === 1 &&
          x.get('golive_forward_targets', { state: 'failed' })! + x.get('golive_forward_targets', { state: 'retrying' })! >= 1 &&
          x.get('golive_forward_sent_bytes_total')! > forwarded0 + 50_000 &&
          x.get('golive_viewers', { protocol: 'realtime' }) === 1 &&
          x
        );
      }, 20_000);
      const forwarded = m.get('golive_forward_sent_bytes_total')!;
      ws.close();
      await waitFor('no realtime viewer', async () => (await scrape()).get('golive_viewers', { protocol: 'realtime' }) === 0);
      // The publisher stops on purpose (as a browser's Stop): the stream ends as it leaves, no grace period.
      server.hub.finish(s.id);
      await pub.kill('SIGKILL');
      m = await waitFor('the recording ended, the targets stopped', async () => {
        const x = await scrape();
        return x.get('golive_recordings', { state: 'ended' }) === ended0 + 1 && x.get('golive_forward_targets', { state: 'live' }) === 0 && x;
      });
      assert.equal(m.get('golive_recordings', { state: 'recording' }), recording0);
      // Totals keep what stopped forwarders sent.
      assert.ok(m.get('golive_forward_sent_bytes_total')! >= forwarded);
    } finally {
      await nginx.dispose();
    }
  });

  test('a browser broadcast: one browser publisher and one ingest ffmpeg while it runs, none after', async () => {
    if (!server.ffmpeg.found) throw new Error('ffmpeg is needed for browser ingest');
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'golive-metrics-'));
    try {
      const file = await makeRecording(tmp, 8);
      const s = await server.createStream('metrics-browser');
      const b = await startBroadcast(server.http, s, file);
      await waitFor('an ingest ffmpeg and a browser publisher', async () => {
        const m = await scrape();
        return m.get('golive_ffmpeg_processes', { purpose: 'ingest' }) === 1 && m.get('golive_publishers', { kind: 'browser' }) === 1;
      });
      b.ws.close();
      await b.closed;
      await waitFor('no ingest ffmpeg', async () => {
        const m = await scrape();
        return m.get('golive_ffmpeg_processes', { purpose: 'ingest' }) === 0 && m.get('golive_publishers', { kind: 'browser' }) === 0;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
