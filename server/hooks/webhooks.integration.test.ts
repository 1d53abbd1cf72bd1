/**
 * Webhooks to real local HTTP receivers: signed events in order, verified; a receiver that hangs or answers 500
 * delays no publish and holds no more than WEBHOOK_QUEUE_MAX events (the rest dropped, counted in /metrics).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { parseExposition } from '../metrics/prom-text';
import { publishTestStream, startTestServer, waitFor, waitLive, type TestServer } from '../testing/harness';
import { signature, type WebhookEvent } from './webhooks';

const SECRET = 'webhook-secret-0123456789abcdef';

interface Got {
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function receiver(behaviour: 'ok' | 'hang' | 'fail'): Promise<{ url: string; got: Got[]; close: () => Promise<void> }> {
  const got: Got[] = [];
  const open = new Set<http.ServerResponse>();
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (behaviour === 'ok') res.writeHead(204).end();
      else if (behaviour === 'fail') res.writeHead(500).end('no');
      else open.add(res); // never answers
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`,
    got,
    close: async () => {
      for (const res of open) res.destroy();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

async function goLiveAndStop(server: TestServer, key: string, id: string): Promise<number> {
  const t0 = Date.now();
  const pub = publishTestStream(`${server.rtmpUrl}/${key}`);
  await waitLive(server, id);
  const took = Date.now() - t0;
  await pub.kill('SIGKILL');
  await waitFor('not live', async () => !server.hub.isLive(id));
  return took;
}

describe('webhooks', () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  test('a receiver gets signed events in order: live, dropped, resumed, dropped, ended', async () => {
    const rx = await receiver('ok');
    cleanup.push(rx.close);
    const server = await startTestServer({ WEBHOOK_URL: rx.url, WEBHOOK_SECRET: SECRET, PUBLISHER_GRACE_SECONDS: '3' });
    cleanup.push(() => server.stop());
    const s = await server.createStream('hooks');
    let pub = publishTestStream(`${server.rtmpUrl}/${s.key}`);
    await waitLive(server, s.id);
    await pub.kill('SIGKILL');
    await waitFor('dropped', () => !server.hub.isLive(s.id));
    pub = publishTestStream(`${server.rtmpUrl}/${s.key}`);
    await waitLive(server, s.id);
    await pub.kill('SIGKILL');
    await waitFor('five events', () => rx.got.length >= 5, 15000);
    const events = rx.got.map((g) => {
      const ts = String(g.headers['x-golive-timestamp']);
      assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 60, 'a fresh timestamp');
      assert.equal(g.headers['x-golive-signature'], signature(SECRET, ts, g.body), 'the signature verifies');
      assert.notEqual(g.headers['x-golive-signature'], signature('another-secret-0123456789', ts, g.body));
      assert.equal(g.headers['content-type'], 'application/json');
      return JSON.parse(g.body) as WebhookEvent;
    }).filter((e) => e.type.startsWith('stream.') || e.type.startsWith('publisher.')); // the hub's (RECORD=on adds recording.ready)
    assert.deepEqual(
      events.map((e) => e.type),
      ['stream.live', 'publisher.dropped', 'publisher.resumed', 'publisher.dropped', 'stream.ended'],
    );
    assert.ok(events.every((e) => e.streamId === s.id && typeof e.id === 'string' && !Number.isNaN(Date.parse(e.at))));
    assert.equal(new Set(events.map((e) => e.id)).size, 5);
  });

  for (const behaviour of ['hang', 'fail'] as const) {
    test(`a receiver that ${behaviour === 'hang' ? 'never answers' : 'answers 500'}: publishes are not delayed, the queue stays bounded`, async () => {
      const rx = await receiver(behaviour);
      cleanup.push(rx.close);
      const ok = await receiver('ok');
      cleanup.push(ok.close);
      const server = await startTestServer({
        WEBHOOK_URL: `${rx.url},${ok.url}`,
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_QUEUE_MAX: '3',
        WEBHOOK_TIMEOUT_MS: '20000',
        PUBLISHER_GRACE_SECONDS: '0.2',
      });
      cleanup.push(() => server.stop());
      const s = await server.createStream('hooks-bad');
      for (let i = 0; i < 3; i++) {
        const took = await goLiveAndStop(server, s.key, s.id);
        // Not a speed check: a publish that waited for the hanging receiver would take its 20 s timeout.
        assert.ok(took < 12_000, `publish ${i} took ${took} ms`);
      }
      // Many more events than the queue holds: the bad receiver's queue is capped, the rest dropped and counted.
      for (let i = 0; i < 200; i++) server.hub.events.emit('end', { id: s.id });
      const m = parseExposition(await (await fetch(`${server.http}/metrics`)).text());
      assert.ok(m.get('golive_webhook_queue')! <= 3 + 3, `queue ${m.get('golive_webhook_queue')}`);
      assert.ok(m.get('golive_webhook_events_total', { result: 'dropped' })! >= 190);
      if (behaviour === 'hang') assert.ok(rx.got.length <= 1, 'one request at a time to a hanging receiver');
      else await waitFor('retries to the failing receiver', () => rx.got.length >= 3, 10000);
      // The good receiver is not held up by the bad one.
      await waitFor('the good receiver got the stream events', () => ok.got.some((g) => (JSON.parse(g.body) as WebhookEvent).type === 'stream.ended'), 10000);
    });
  }
});
