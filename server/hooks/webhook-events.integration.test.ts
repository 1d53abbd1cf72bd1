/**
 * The webhook events of recording and forwarding, to a real local receiver: `recording.ready` when a recording ends
 * (its URLs play), `forward.failed` when a real nginx-rtmp refuses a target (the platform's reason, never the key).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { operatorHeaders, publishTestStream, startTestServer, waitFor, waitLive, type Proc } from '../testing/harness';
import { startNginxRtmp } from '../testing/nginx';
import { signature, type WebhookEvent } from './webhooks';

const SECRET = 'webhook-secret-0123456789abcdef';

async function receiver(): Promise<{ url: string; events: WebhookEvent[]; bodies: string[]; close: () => Promise<void> }> {
  const events: WebhookEvent[] = [];
  const bodies: string[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const ts = String(req.headers['x-golive-timestamp']);
      assert.equal(req.headers['x-golive-signature'], signature(SECRET, ts, body));
      bodies.push(body);
      events.push(JSON.parse(body) as WebhookEvent);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`,
    events,
    bodies,
    close: async () => {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

describe('webhook events of recording and forwarding', () => {
  const cleanup: Array<() => Promise<void>> = [];
  const procs: Proc[] = [];
  after(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    for (const c of cleanup.reverse()) await c();
  });

  test('recording.ready: after the stream ends, with the recording id, duration, bytes and URLs that play', async () => {
    const rx = await receiver();
    cleanup.push(rx.close);
    const server = await startTestServer({ WEBHOOK_URL: rx.url, WEBHOOK_SECRET: SECRET, RECORD: 'on', PUBLISHER_GRACE_SECONDS: '0.5' });
    cleanup.push(() => server.stop());
    const s = await server.createStream('recorded');
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`);
    procs.push(pub);
    await waitLive(server, s.id);
    await waitFor('a few segments recorded', () => server.recording.bytesRecorded > 50_000, 20_000);
    assert.equal(rx.events.filter((e) => e.type === 'recording.ready').length, 0, 'not while it records');
    await pub.kill('SIGKILL');
    await waitFor('recording.ready', () => rx.events.some((e) => e.type === 'recording.ready'), 20_000);
    const types = rx.events.map((e) => e.type);
    assert.ok(types.indexOf('stream.ended') < types.indexOf('recording.ready'), types.join());
    const ev = rx.events.find((e) => e.type === 'recording.ready')!;
    assert.equal(ev.streamId, s.id);
    const rec = ev.recording!;
    assert.match(rec.rid, /\S+/);
    assert.equal(rec.title, 'recorded', 'the title it was broadcast under');
    assert.ok(rec.durationSeconds > 0.5, `duration ${rec.durationSeconds}`);
    assert.ok(rec.bytes > 50_000, `bytes ${rec.bytes}`);
    assert.equal(rec.urls.playlist, `/api/recordings/${rec.rid}/index.m3u8`);
    // What the event names is what the API has.
    const row = (await (await fetch(`${server.http}/api/recordings/${rec.rid}`, { headers: operatorHeaders() })).json()) as { bytes: number; state: string };
    assert.equal(row.state, 'ended');
    assert.equal(row.bytes, rec.bytes);
    const playlist = await fetch(`${server.http}${rec.urls.playlist}`, { headers: operatorHeaders() });
    assert.equal(playlist.status, 200);
    assert.match(await playlist.text(), /#EXT-X-ENDLIST/);
    const mp4 = await fetch(`${server.http}${rec.urls.mp4}`, { headers: { ...operatorHeaders(), Range: 'bytes=0-7' } });
    assert.equal(mp4.status, 206);
    assert.equal(Buffer.from(await mp4.arrayBuffer()).toString('latin1', 4, 8), 'ftyp');
    assert.equal(rx.events.filter((e) => e.type === 'recording.ready').length, 1, 'once');
  });

  test('forward.failed: a target refused by a real nginx-rtmp, with its reason, never its key', async () => {
    const rx = await receiver();
    cleanup.push(rx.close);
    const nginx = await startNginxRtmp();
    cleanup.push(() => nginx.dispose());
    const server = await startTestServer({ WEBHOOK_URL: rx.url, WEBHOOK_SECRET: SECRET, FORWARD_RETRY_MIN_SECONDS: '0.3', FORWARD_RETRY_MAX_SECONDS: '1' });
    cleanup.push(() => server.stop());
    const s = await server.createStream('forwarded');
    const key = 'secret-forward-key-0123456789abcdef';
    const res = await fetch(`${server.http}/api/streams/${s.id}/forwards`, {
      method: 'POST',
      headers: operatorHeaders(),
      body: JSON.stringify({ url: nginx.url(key, 'wrongapp'), label: 'Wrong app' }),
    });
    assert.equal(res.status, 201, await res.text());
    const target = (await (await fetch(`${server.http}/api/streams/${s.id}/forwards`, { headers: operatorHeaders() })).json()) as { forwards?: Array<{ id: string }> } | Array<{ id: string }>;
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`);
    procs.push(pub);
    await waitLive(server, s.id);
    await waitFor('forward.failed', () => rx.events.some((e) => e.type === 'forward.failed'), 20_000);
    const ev = rx.events.find((e) => e.type === 'forward.failed')!;
    assert.equal(ev.streamId, s.id);
    assert.equal(ev.forward!.label, 'Wrong app');
    assert.ok(['failed', 'retrying'].includes(ev.forward!.state));
    assert.match(ev.forward!.reason, /wrongapp/);
    assert.equal(ev.reason, ev.forward!.reason);
    const ids = Array.isArray(target) ? target.map((t) => t.id) : (target.forwards ?? []).map((t) => t.id);
    assert.ok(ids.includes(ev.forward!.targetId), 'the target id the API shows');
    // Retried: more events come, none of them (nor anything else sent) holds the key or its URL.
    await waitFor('a retry reported', () => rx.events.filter((e) => e.type === 'forward.failed').length >= 2, 20_000);
    for (const b of rx.bodies) {
      assert.ok(!b.includes(key) && !b.includes(key.slice(0, 16)), `no key in ${b}`);
      assert.ok(!b.includes('rtmp://'), `no URL in ${b}`);
    }
  });
});
