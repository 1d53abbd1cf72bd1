/**
 * /healthz reports event-loop delay, memory and counts, and answers 503 (with Retry-After) when the event loop lags
 * past HEALTH_MAX_EVENT_LOOP_DELAY_MS. A count at its cap is reported (atCapacity) with a 200: a client can fill a
 * cap on purpose, and must not take the server out of a load balancer's rotation by it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { startTestServer, waitFor } from '../testing/harness';

interface Health {
  status: string;
  problems?: string[];
  atCapacity?: string[];
  eventLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
  memory: { rssMiB: number; heapUsedMiB: number };
  http: { connections: number };
  rtmp: { connections: number; maxConnections: number; pending: number; players: number; publishers: number; internal: number };
  ingest: { sockets: number; broadcasts: number; pending: number; ffmpeg: number; maxBroadcasts: number };
  processes: { ffmpeg: number };
  hls: { heldRequests: number };
  streams: { live: number };
}

async function health(http: string): Promise<{ status: number; retryAfter: string | null; body: Health }> {
  const res = await fetch(`${http}/healthz`);
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Health };
}

test('/healthz: counts and memory; a browser-broadcast count at INGEST_MAX_SESSIONS is reported, still 200', async () => {
  const server = await startTestServer({ INGEST_MAX_SESSIONS: '1' });
  try {
    const idle = await health(server.http);
    assert.equal(idle.status, 200);
    assert.equal(idle.body.status, 'ok');
    assert.ok(idle.body.memory.rssMiB > 10 && idle.body.memory.heapUsedMiB > 1, JSON.stringify(idle.body.memory));
    assert.ok(idle.body.http.connections >= 1, 'this request counts');
    assert.equal(idle.body.ingest.broadcasts, 0);
    assert.equal(idle.body.ingest.maxBroadcasts, 1);
    assert.equal(typeof idle.body.eventLoopDelay.p99Ms, 'number');
    assert.equal(idle.body.hls.heldRequests, 0);
    assert.deepEqual([idle.body.rtmp.pending, idle.body.rtmp.players, idle.body.rtmp.publishers, idle.body.rtmp.internal], [0, 0, 0, 0]);
    assert.equal(idle.body.atCapacity, undefined);

    // One accepted broadcast (awaiting its media) fills the only slot.
    const s = await server.createStream();
    const ws = new WebSocket(`${server.http.replace('http', 'ws')}/ingest`);
    const started = new Promise<void>((r) => ws.on('message', (d) => JSON.parse(d.toString()).type === 'started' && r()));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'start', v: 1, streamId: s.id, key: s.key, mimeType: 'video/webm;codecs=h264', captureStart: Date.now() }));
    await started;
    const full = await health(server.http);
    assert.equal(full.status, 200);
    assert.equal(full.body.status, 'ok');
    assert.ok(full.body.atCapacity?.some((p) => p.includes('INGEST_MAX_SESSIONS')), JSON.stringify(full.body));
    assert.equal(full.body.ingest.broadcasts, 1);
    assert.equal(full.body.ingest.sockets, 1);
    ws.terminate();
    await waitFor('slot free', async () => (await health(server.http)).body.atCapacity === undefined, 10000);
  } finally {
    await server.stop();
  }
});

test('/healthz: 503 when the event loop lagged past HEALTH_MAX_EVENT_LOOP_DELAY_MS', async () => {
  const server = await startTestServer({ HEALTH_MAX_EVENT_LOOP_DELAY_MS: '200' });
  try {
    // The test server shares this process's event loop: keep it lagging, 300 ms blocks for 3 s (on a busy machine
    // the blocks only get longer).
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      const until = Date.now() + 300;
      while (Date.now() < until) {
        /* busy */
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    const lagged = await health(server.http);
    assert.equal(lagged.status, 503);
    assert.ok(lagged.body.eventLoopDelay.p99Ms > 200, JSON.stringify(lagged.body.eventLoopDelay));
    assert.ok(lagged.body.problems?.some((p) => p.includes('event-loop delay')), JSON.stringify(lagged.body.problems));
  } finally {
    await server.stop();
  }
});
