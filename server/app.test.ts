import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from './testing/harness';

let server: TestServer;
/** Requests that went through `HlsService.handle` (the general route, with its URL object) rather than the fast path. */
let viaRoute = 0;

before(async () => {
  server = await startTestServer();
  const handle = server.hls.handle.bind(server.hls);
  server.hls.handle = (req, res, url) => {
    viaRoute++;
    return handle(req, res, url);
  };
});

after(async () => {
  await server.stop();
});

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${server.http}${path}`);
  return { status: res.status, body: await res.text() };
}

test('plain /hls/<id>/<file> requests take the fast path (no URL object, no promise), with the same answers', async () => {
  const { id } = await server.createStream();
  viaRoute = 0;
  assert.deepEqual(await get(`/hls/${id}/index.m3u8`), { status: 404, body: 'no such live stream\n' });
  assert.deepEqual(await get(`/hls/${id}/index.m3u8?_HLS_msn=3&_HLS_part=1`), { status: 404, body: 'no such live stream\n' });
  assert.deepEqual(await get('/hls/Not_An_Id!/index.m3u8'), { status: 404, body: 'not found\n' });
  assert.equal(viaRoute, 0);
});

test('/hls/ targets a URL parser would change go through the general route', async () => {
  viaRoute = 0;
  // Percent escapes, extra or missing segments.
  assert.equal((await get('/hls/ab%63/index.m3u8')).status, 404);
  assert.deepEqual(await get('/hls/a/b/c'), { status: 404, body: 'not found\n' });
  assert.deepEqual(await get('/hls/a/'), { status: 404, body: 'not found\n' });
  assert.equal(viaRoute, 3);
  // Not HLS at all: untouched.
  assert.equal((await get('/healthz')).status, 200);
  assert.equal(viaRoute, 3);
});
