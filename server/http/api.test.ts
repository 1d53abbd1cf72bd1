import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { operatorHeaders, startTestServer, type TestServer } from '../testing/harness';

describe('/api/streams', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  test('POST creates a stream with a key and the URLs a user needs', async () => {
    const res = await fetch(`${server.http}/api/streams`, { method: 'POST', body: JSON.stringify({ title: 'Hello' }), headers: { ...operatorHeaders(), Host: 'live.example:8080' } });
    assert.equal(res.status, 201);
    const body = (await res.json()) as { id: string; key: string; title: string; urls: Record<string, string> };
    assert.match(body.id, /^[a-z0-9]{10}$/);
    assert.ok(body.key.startsWith(`${body.id}_`));
    assert.equal(body.title, 'Hello');
    assert.equal(res.headers.get('location'), `/api/streams/${body.id}`);
    assert.equal(body.urls.rtmpPublish, `rtmp://127.0.0.1:${server.rtmpPort}/live/${body.key}`);
    assert.equal(body.urls.obsServer, `rtmp://127.0.0.1:${server.rtmpPort}/live`);
    assert.equal(body.urls.obsStreamKey, body.key);
    assert.equal(body.urls.rtmpPlay, `rtmp://127.0.0.1:${server.rtmpPort}/live/${body.id}`);
    assert.equal(body.urls.watch, `${server.http}/watch/${body.id}`);
    assert.equal(body.urls.hls, `${server.http}/hls/${body.id}/index.m3u8`);

    const one = await fetch(`${server.http}/api/streams/${body.id}`);
    assert.equal(one.status, 200);
    const state = (await one.json()) as Record<string, unknown>;
    assert.equal(state.live, false);
    assert.equal(state.title, 'Hello');
    assert.equal(state.key, undefined, 'the key is never shown again');
  });

  test('bad bodies get 400 with a reason', async () => {
    for (const body of ['{"title": 5}', '{"nope": 1}', 'not json', `{"title":"${'x'.repeat(200)}"}`]) {
      const res = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: operatorHeaders(), body });
      assert.equal(res.status, 400, body);
      const err = (await res.json()) as { error: string };
      assert.ok(err.error.length > 5);
    }
    const big = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: operatorHeaders(), body: 'x'.repeat(100_000) });
    assert.equal(big.status, 413);
  });

  test('unknown streams are 404, wrong methods 405, the live list is JSON', async () => {
    assert.equal((await fetch(`${server.http}/api/streams/doesnotexist`)).status, 404);
    assert.equal((await fetch(`${server.http}/api/streams/..%2F..%2Fetc`)).status, 404);
    // Malformed escapes are no stream (they gave 500 once), on every route that takes an id.
    for (const bad of ['%', '%zz', '%E0%A4%A', 'a%2']) {
      assert.equal((await fetch(`${server.http}/api/streams/${bad}`)).status, 404, bad);
      assert.equal((await fetch(`${server.http}/api/streams/${bad}`, { method: 'DELETE', headers: operatorHeaders() })).status, 404, bad);
      assert.equal((await fetch(`${server.http}/api/streams/${bad}/key`, { method: 'POST', headers: operatorHeaders() })).status, 404, bad);
      assert.equal((await fetch(`${server.http}/api/watch/${bad}`)).status, 200, bad);
    }
    assert.equal((await fetch(`${server.http}/api/streams`, { method: 'DELETE' })).status, 405);
    assert.equal((await fetch(`${server.http}/api/nothing`)).status, 404);
    const list = await fetch(`${server.http}/api/streams`);
    assert.equal(list.status, 200);
    assert.deepEqual(await list.json(), { streams: [] });
  });

  test('keys keep working after a restart', async () => {
    const first = await startTestServer();
    let second: TestServer | null = null;
    try {
      const created = await first.createStream('kept');
      await first.close();
      second = await startTestServer({ DATA_DIR: first.dataDir });
      assert.equal(second.registry.verifyKey(created.key)?.id, created.id);
      assert.equal(second.registry.get(created.id)?.title, 'kept');
      assert.equal(server.registry.verifyKey(created.key), null, 'another data dir does not know the key');
    } finally {
      await second?.close();
      await first.stop();
    }
  });
});
