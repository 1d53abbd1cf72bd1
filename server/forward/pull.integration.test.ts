/**
 * Pulled by other servers: an nginx-rtmp edge with `pull rtmp://<us>/live` serves our streams to its own players (it
 * plays `/live/<id>` from us when the first of them asks), as README "Forward" documents.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { probe, publishTestStream, startTestServer, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';
import { startNginxRtmp, type NginxRtmp } from '../testing/nginx';

describe('an nginx-rtmp edge pulling from us', () => {
  let server: TestServer;
  let edge: NginxRtmp;
  const procs: Proc[] = [];
  before(async () => {
    server = await startTestServer();
    edge = await startNginxRtmp({ pullFrom: server.rtmpUrl });
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await server.stop();
    await edge.dispose();
  });

  test("the edge's players get H.264 + AAC of our stream, pulled as one RTMP player of ours", async () => {
    const s = await server.createStream('pulled');
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { size: '352x288' });
    procs.push(pub);
    await waitLive(server, s.id);
    const streams = await probe(edge.url(s.id, 'edge'));
    const v = streams.find((x) => x.codec_type === 'video');
    assert.equal(v?.codec_name, 'h264');
    assert.equal(v?.width, 352);
    assert.equal(v?.height, 288);
    assert.equal(streams.find((x) => x.codec_type === 'audio')?.codec_name, 'aac');
    // Two players of the edge at once are still one player of ours.
    const both = Promise.all([probe(edge.url(s.id, 'edge')), probe(edge.url(s.id, 'edge'))]);
    await waitFor('the edge pulling', () => (server.hub.stats(s.id)?.subscribers.rtmp ?? 0) >= 1, 10000);
    assert.equal(server.hub.stats(s.id)?.subscribers.rtmp, 1);
    await both;
  });
});
