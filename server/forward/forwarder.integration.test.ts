/**
 * The forward client (Forwarder on the hub, our own RTMP publish client) against a real nginx-rtmp, fed by a real
 * ffmpeg publishing to our server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { probe, publishTestStream, startTestServer, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';
import { startNginxRtmp, type NginxRtmp } from '../testing/nginx';
import { Forwarder, type ForwarderOptions } from './forwarder';
import { parseForwardUrl } from './url';

const OPTS: ForwarderOptions = {
  connectTimeoutMs: 5000,
  maxBufferedBytes: 32 * 1024 * 1024,
  stallMs: 10_000,
  writeBatchMs: 33,
  tls: { allowSelfSigned: false },
  minBackoffMs: 300,
  maxBackoffMs: 2000,
};
const quiet = { info: () => undefined, warn: () => undefined };

describe('Forwarder against nginx-rtmp', () => {
  let server: TestServer;
  let nginx: NginxRtmp;
  const procs: Proc[] = [];
  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '8' });
    nginx = await startNginxRtmp();
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await server.stop();
    await nginx.dispose();
  });

  test('forwards H.264 + AAC with the right size, survives a publisher reconnect on the same connection, ends with FCUnpublish', async () => {
    const s = await server.createStream('forward');
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { size: '426x240', fps: 25, gop: 25 });
    procs.push(pub);
    await waitLive(server, s.id);
    let stoppedCalls = 0;
    const f = new Forwarder('t1', parseForwardUrl(nginx.url('fwd-key-1')), (sink) => server.hub.subscribe(s.id, sink), OPTS, quiet, () => stoppedCalls++);
    f.begin();
    await waitFor('the target live', () => f.status().state === 'live', 10000);
    // The whole stream reaches nginx: ffprobe as one of nginx's players.
    const streams = await probe(nginx.url('fwd-key-1'));
    const v = streams.find((x) => x.codec_type === 'video');
    const a = streams.find((x) => x.codec_type === 'audio');
    assert.equal(v?.codec_name, 'h264');
    assert.equal(v?.width, 426);
    assert.equal(v?.height, 240);
    assert.equal(a?.codec_name, 'aac');
    assert.equal(a?.sample_rate, '44100');
    await waitFor('a bitrate', () => f.status().bitrateKbps > 20, 5000);
    const [before1] = await nginx.publishers();
    assert.equal(before1.name, 'fwd-key-1');

    // Our publisher drops and comes back within the grace period: nginx keeps the same publishing connection.
    await pub.kill('SIGKILL');
    await waitFor('our stream reconnecting', () => server.hub.stats(s.id)?.state === 'reconnecting', 5000);
    const pub2 = publishTestStream(`${server.rtmpUrl}/${s.key}`, { size: '426x240', fps: 25, gop: 25 });
    procs.push(pub2);
    await waitFor('our stream live again', () => server.hub.stats(s.id)?.state === 'live', 10000);
    const streams2 = await probe(nginx.url('fwd-key-1'));
    assert.equal(streams2.find((x) => x.codec_type === 'video')?.width, 426);
    const [after1] = await nginx.publishers();
    assert.equal(after1.clientId, before1.clientId, 'the same connection to the target');
    assert.ok(after1.timeMs > before1.timeMs);
    assert.equal(f.status().connections, 1);
    assert.equal(f.status().state, 'live');

    // The stream ends: the target gets FCUnpublish/deleteStream and nginx has no publisher left.
    server.hub.end(s.id, 'stream ended');
    assert.equal(stoppedCalls, 1);
    await waitFor('nginx without publisher', async () => (await nginx.publishers()).length === 0, 5000);
    await pub2.kill('SIGKILL');
  });

  test('media goes out in batches: about one socket write per frame interval, not one per message', async () => {
    const s = await server.createStream('forward-batch');
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { size: '426x240', fps: 25, gop: 25 });
    procs.push(pub);
    await waitLive(server, s.id);
    const f = new Forwarder('t2', parseForwardUrl(nginx.url('fwd-key-2')), (sink) => server.hub.subscribe(s.id, sink), OPTS, quiet, () => undefined);
    f.begin();
    await waitFor('the target live', () => f.status().state === 'live', 10000);
    // Count what reaches the socket against what the RTMP client encoded, over a few seconds of live media.
    // Writes as the kernel sees them: a stream's _write/_writev is one send (corked writes arrive as one _writev).
    type Low = { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    const conn = (f as unknown as { conn: { socket: Low; media: (...a: unknown[]) => void } }).conn;
    let writes = 0;
    let messages = 0;
    const low = conn.socket;
    const w1 = low._write.bind(low);
    const wv = low._writev.bind(low);
    low._write = (...a: unknown[]) => {
      writes++;
      w1(...a);
    };
    low._writev = (...a: unknown[]) => {
      writes++;
      wv(...a);
    };
    const media = conn.media.bind(conn);
    conn.media = (...a: unknown[]) => {
      messages++;
      media(...a);
    };
    await new Promise((r) => setTimeout(r, 3000));
    f.stop();
    assert.ok(messages > 100, `only ${messages} media messages in 3 s`);
    // 25 fps video + ~43 AAC frames a second = ~68 messages; 33 ms batches give at most ~31 writes a second.
    assert.ok(writes < messages * 0.6, `${writes} writes for ${messages} messages`);
    // What was batched still plays on the target: ffprobe reads it as one of nginx's players would (checked above for
    // the first target with the same options); the stream ends cleanly.
    await waitFor('nginx without publisher', async () => !(await nginx.publishers()).some((p) => p.name === 'fwd-key-2'), 5000);
    await pub.kill('SIGKILL');
  });
});
