/**
 * The publish hook with a real local HTTP hook: it allows, refuses (the RTMP client's onStatus and the browser
 * ingest's close reason carry the hook's reason) and times out as PUBLISH_HOOK_ON_TIMEOUT says.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { makeRecording, startBroadcast } from '../testing/process';
import { connectPublisher } from '../testing/rtmp-client';
import { startTestServer, type TestServer } from '../testing/harness';

interface Asked {
  streamId: string;
  address: string;
  kind: string;
}

/** The hook: the decision is the stream's title, looked up through `decide`. */
async function hook(decide: (streamId: string) => 'allow' | 'refuse' | 'hang' | 'slow') {
  const asked: Asked[] = [];
  const held = new Set<http.ServerResponse>();
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Asked;
      asked.push(body);
      const d = decide(body.streamId);
      if (d === 'allow') res.writeHead(204).end();
      else if (d === 'refuse') res.writeHead(403, { 'Content-Type': 'application/json' }).end(JSON.stringify({ reason: 'banned by the test hook' }));
      else if (d === 'slow') setTimeout(() => res.writeHead(204).end(), 300);
      else held.add(res);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/publish`,
    asked,
    close: async () => {
      for (const r of held) r.destroy();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

describe('publish hook', () => {
  const decisions = new Map<string, 'allow' | 'refuse' | 'hang' | 'slow'>();
  let h: Awaited<ReturnType<typeof hook>>;
  let deny: TestServer;
  let allow: TestServer;
  let tmp: string;
  let recording: Buffer;
  before(async () => {
    h = await hook((id) => decisions.get(id) ?? 'refuse');
    deny = await startTestServer({ PUBLISH_HOOK_URL: h.url, PUBLISH_HOOK_TIMEOUT_MS: '500', PUBLISH_HOOK_ON_TIMEOUT: 'deny' });
    allow = await startTestServer({ PUBLISH_HOOK_URL: h.url, PUBLISH_HOOK_TIMEOUT_MS: '500', PUBLISH_HOOK_ON_TIMEOUT: 'allow' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'golive-hook-'));
    recording = await makeRecording(tmp, 4);
  });
  after(async () => {
    await deny?.stop();
    await allow?.stop();
    await h?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  async function stream(server: TestServer, d: 'allow' | 'refuse' | 'hang' | 'slow') {
    const s = await server.createStream(d);
    decisions.set(s.id, d);
    return s;
  }

  test('RTMP: a 2xx allows; the hook is asked with the stream id, the address and the kind', async () => {
    const s = await stream(deny, 'allow');
    const pub = await connectPublisher(`${deny.rtmpUrl}/${s.key}`);
    assert.ok(deny.hub.isLive(s.id));
    assert.deepEqual(h.asked.at(-1), { streamId: s.id, address: '127.0.0.1', kind: 'rtmp' });
    await pub.unpublish();
  });

  test("RTMP: a refusal reaches the client's onStatus with the hook's reason", async () => {
    const s = await stream(deny, 'refuse');
    await assert.rejects(connectPublisher(`${deny.rtmpUrl}/${s.key}`), /NetStream\.Publish\.Unauthorized: banned by the test hook/);
    assert.equal(deny.hub.isLive(s.id), false);
  });

  test('RTMP: a wrong key is refused without asking the hook', async () => {
    const before = h.asked.length;
    await assert.rejects(connectPublisher(`${deny.rtmpUrl}/not-a-key`), /Unauthorized/);
    assert.equal(h.asked.length, before);
  });

  test('RTMP: a hook that does not answer: deny refuses, allow accepts', async () => {
    const s1 = await stream(deny, 'hang');
    await assert.rejects(connectPublisher(`${deny.rtmpUrl}/${s1.key}`), /did not answer in time/);
    const s2 = await stream(allow, 'hang');
    const pub = await connectPublisher(`${allow.rtmpUrl}/${s2.key}`);
    assert.ok(allow.hub.isLive(s2.id));
    await pub.unpublish();
  });

  test('browser ingest: a refusal closes the socket with 4401 and the reason; an allowed one starts', async () => {
    const s = await stream(deny, 'refuse');
    const ws = new WebSocket(`${deny.http.replace('http', 'ws')}/ingest`);
    ws.on('error', () => undefined);
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'start', v: 1, streamId: s.id, key: s.key, mimeType: 'video/webm;codecs=h264', captureStart: Date.now() }));
    const c = await closed;
    assert.equal(c.code, 4401);
    assert.match(c.reason, /banned by the test hook/);
    assert.deepEqual(h.asked.at(-1), { streamId: s.id, address: '127.0.0.1', kind: 'browser' });

    const ok = await stream(deny, 'allow');
    const b = await startBroadcast(deny.http, ok, recording);
    b.ws.close();
    await b.closed;
  });

  test('a client that sends media before the decision is not cut off; one that closes while it waits harms nothing', async () => {
    const { RtmpClient } = await import('../testing/rtmp-client');
    const early = await stream(deny, 'slow');
    const c1 = await RtmpClient.open(`${deny.rtmpUrl}/${early.key}`);
    await c1.connect({ type: 'nonprivate' });
    const sid1 = await c1.createStream();
    const started = c1.waitStatus(sid1, ['NetStream.Publish.Start']);
    c1.command(sid1, 'publish', early.key, 'live');
    for (let i = 0; i < 5; i++) c1.sendMessage({ csid: 6, type: 9, streamId: sid1, timestamp: i * 40, payload: Buffer.from([0x17, 1, 0, 0, 0, 1, 2, 3]) });
    await started;
    assert.ok(deny.hub.isLive(early.id));
    c1.socket.destroy();

    const s = await stream(deny, 'hang');
    const client = await RtmpClient.open(`${deny.rtmpUrl}/${s.key}`);
    await client.connect({ type: 'nonprivate' });
    const sid = await client.createStream();
    client.command(sid, 'publish', s.key, 'live');
    for (let i = 0; i < 50; i++) client.sendMessage({ csid: 6, type: 9, streamId: sid, timestamp: i * 40, payload: Buffer.from([0x17, 1, 0, 0, 0, 1, 2, 3]) });
    client.socket.destroy();
    await new Promise((r) => setTimeout(r, 800)); // the hook's timeout (500 ms) passes: its answer finds the connection gone
    assert.equal(deny.hub.isLive(s.id), false);
    assert.equal(deny.rtmp.connectionCount, 0);
  });
});
