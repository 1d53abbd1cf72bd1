/**
 * Forward targets end to end: set through the API, fed by a real ffmpeg publishing to our server, received by two
 * real nginx-rtmp servers (ffprobe plays them back from nginx), one of which is stopped and started again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectPlayer, type RtmpPlayer } from '../testing/rtmp-client';
import { operatorHeaders, probe, publishTestStream, startTestServer, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';
import { startNginxRtmp, type NginxRtmp } from '../testing/nginx';

interface View {
  id: string;
  label: string;
  url: string;
  enabled: boolean;
  state: string;
  reason?: string;
  retryInSeconds?: number;
  bitrateKbps: number;
}

describe('forward targets through the API, to real nginx-rtmp servers', () => {
  let server: TestServer;
  let a: NginxRtmp;
  let b: NginxRtmp;
  const procs: Proc[] = [];
  let player: RtmpPlayer | null = null;
  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '8', FORWARD_RETRY_MIN_SECONDS: '0.3', FORWARD_RETRY_MAX_SECONDS: '1', FORWARD_CONNECT_TIMEOUT_SECONDS: '4' });
    [a, b] = await Promise.all([startNginxRtmp(), startNginxRtmp()]);
  });
  after(async () => {
    await player?.close();
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await server.stop();
    await Promise.all([a.dispose(), b.dispose()]);
  });

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.http}${path}`, { method, headers: operatorHeaders(), body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  };
  const states = async (id: string) => {
    const r = await api('GET', `/api/streams/${id}`);
    return new Map(((r.json?.forwards ?? []) as View[]).map((v) => [v.label, v]));
  };

  test('two targets live with the stream; one restarted resumes, the other and our players unaffected; refused and disabled targets; publisher reconnect keeps the connections', async () => {
    const s = await server.createStream('restream');
    const keyA = 'key-for-a-0123456789abcdef';
    const keyB = 'key-for-b-0123456789abcdef';
    const created = [];
    for (const t of [
      { url: a.url(keyA), label: 'A' },
      { url: b.url(keyB), label: 'B' },
      { url: a.url('whatever-key', 'wrongapp'), label: 'wrong app' },
      { url: b.url('disabled-key-0123456789'), label: 'off', enabled: false },
    ]) {
      const r = await api('POST', `/api/streams/${s.id}/forwards`, t);
      assert.equal(r.status, 201, r.text);
      created.push(r.json as unknown as View);
    }
    // The keys are never in an answer.
    const list = await api('GET', `/api/streams/${s.id}/forwards`);
    for (const text of [list.text, ...created.map((c) => JSON.stringify(c))]) {
      for (const k of [keyA, keyB, 'whatever-key', 'disabled-key']) assert.ok(!text.includes(k), `key in ${text}`);
    }
    assert.equal(created[0].url, `rtmp://127.0.0.1:${a.rtmpPort}/live/••••cdef`);
    assert.equal(created[0].state, 'idle');
    assert.equal(created[3].state, 'disabled');

    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { size: '426x240', fps: 25, gop: 25 });
    procs.push(pub);
    await waitLive(server, s.id);
    await waitFor('A and B live', async () => {
      const m = await states(s.id);
      return m.get('A')?.state === 'live' && m.get('B')?.state === 'live';
    }, 15000);
    // The public view of the stream has no forwards.
    const pub1 = (await (await fetch(`${server.http}/api/streams/${s.id}`)).json()) as Record<string, unknown>;
    assert.equal(pub1.forwards, undefined);

    for (const n of [a, b]) {
      const streams = await probe(n.url(n === a ? keyA : keyB));
      const v = streams.find((x) => x.codec_type === 'video');
      assert.equal(v?.codec_name, 'h264');
      assert.equal(v?.width, 426);
      assert.equal(v?.height, 240);
      assert.equal(streams.find((x) => x.codec_type === 'audio')?.codec_name, 'aac');
    }
    // The refused target shows nginx's refusal and is retried; the disabled one never connects.
    const wrong = await waitFor('the wrong app failed', async () => {
      const w = (await states(s.id)).get('wrong app');
      return w?.state === 'failed' && w.reason ? w : null;
    }, 10000);
    assert.match(wrong.reason ?? '', /application "wrongapp" refused/);
    assert.equal((await states(s.id)).get('off')?.state, 'disabled');
    assert.deepEqual((await b.publishers()).map((p) => p.name), [keyB]);
    await waitFor('bitrates', async () => {
      const m = await states(s.id);
      return (m.get('A')?.bitrateKbps ?? 0) > 20 && (m.get('B')?.bitrateKbps ?? 0) > 20;
    }, 8000);

    // One of our RTMP players, and B's publishing connection, through A's restart.
    player = await connectPlayer(`${server.rtmpUrl}/${s.id}`);
    const [bBefore] = await b.publishers();
    await a.stop();
    const down = await waitFor('A retrying', async () => {
      const v = (await states(s.id)).get('A');
      return v?.state !== 'live' ? v : null;
    }, 10000);
    assert.ok(down.reason, 'a reason while A is down');
    const mediaAtStop = player.media.videoMessages;
    await new Promise((r) => setTimeout(r, 1500));
    await a.start();
    await waitFor('A live again', async () => (await states(s.id)).get('A')?.state === 'live', 15000);
    const streamsA = await probe(a.url(keyA));
    assert.equal(streamsA.find((x) => x.codec_type === 'video')?.width, 426);
    const [bAfter] = await b.publishers();
    assert.equal(bAfter.clientId, bBefore.clientId, "B's connection was not touched");
    assert.equal((await states(s.id)).get('B')?.state, 'live');
    assert.equal(player.closeReason, null, 'our player is still connected');
    assert.ok(player.media.videoMessages > mediaAtStop + 25, `our player kept receiving (${mediaAtStop} -> ${player.media.videoMessages})`);

    // Our publisher reconnects within the grace period: neither target reconnects.
    const [aPub] = await a.publishers();
    const [bPub] = await b.publishers();
    await pub.kill('SIGKILL');
    await waitFor('our stream reconnecting', () => server.hub.stats(s.id)?.state === 'reconnecting', 5000);
    const pub2 = publishTestStream(`${server.rtmpUrl}/${s.key}`, { size: '426x240', fps: 25, gop: 25 });
    procs.push(pub2);
    await waitFor('our stream live again', () => server.hub.stats(s.id)?.state === 'live', 10000);
    const again = await probe(b.url(keyB));
    assert.equal(again.find((x) => x.codec_type === 'video')?.height, 240);
    assert.equal((await a.publishers())[0]?.clientId, aPub.clientId);
    assert.equal((await b.publishers())[0]?.clientId, bPub.clientId);

    // Disable A: it leaves nginx A; enable it again: back. Delete B: it leaves nginx B.
    const idA = created[0].id;
    const patched = await api('PATCH', `/api/streams/${s.id}/forwards/${idA}`, { enabled: false });
    assert.equal(patched.status, 200, patched.text);
    assert.equal((patched.json as unknown as View).state, 'disabled');
    await waitFor('nginx A without publisher', async () => (await a.publishers()).length === 0, 5000);
    await api('PATCH', `/api/streams/${s.id}/forwards/${idA}`, { enabled: true });
    await waitFor('A live once more', async () => (await states(s.id)).get('A')?.state === 'live', 10000);
    const del = await api('DELETE', `/api/streams/${s.id}/forwards/${created[1].id}`);
    assert.equal(del.status, 204);
    await waitFor('nginx B without publisher', async () => (await b.publishers()).length === 0, 5000);
    assert.equal((await states(s.id)).has('B'), false);

    // The stream ends: the targets end cleanly.
    await pub2.kill('SIGTERM');
    await fetch(`${server.http}/api/streams/${s.id}`, { method: 'DELETE', headers: operatorHeaders() });
    await waitFor('nginx A without publisher at the end', async () => (await a.publishers()).length === 0, 5000);
    assert.equal(server.forwards.activeCount, 0);
  });
});
