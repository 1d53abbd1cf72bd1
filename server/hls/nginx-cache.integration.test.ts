/**
 * LL-HLS through a real nginx (Debian's) running the shipped docs/deploy/nginx-cache.conf on loopback ports: a viewer
 * plays with blocking reloads through the cache, and 200 viewers through it cost the origin about one request per
 * playlist update and per part (proxy_cache_lock collapses the concurrent misses).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parsePlaylist } from '../../bench/hls/common';
import { onPath } from '../ffmpeg/locate';
import { publishTestStream, startTestServer, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';
import { startNginxCache, type NginxCache } from '../testing/nginx';

/** One LL-HLS viewer step, like hls.js at the live edge: the blocking reload for the hinted part, and that part. */
async function step(base: string, msn: number, index: number, partUri: string): Promise<{ text: string; part: number; cache: string | null }> {
  const [pl, part] = await Promise.all([fetch(`${base}/index.m3u8?_HLS_msn=${msn}&_HLS_part=${index}`), fetch(`${base}/${partUri}`)]);
  assert.equal(pl.status, 200, `playlist ${msn}.${index}`);
  assert.equal(part.status, 200, `part ${partUri}`);
  return { text: await pl.text(), part: (await part.arrayBuffer()).byteLength, cache: part.headers.get('x-cache-status') };
}

describe('LL-HLS behind a real nginx cache (docs/deploy/nginx-cache.conf)', () => {
  let server: TestServer;
  let pub: Proc;
  let nginx: NginxCache | undefined;
  let id: string;
  let viaCache: string;
  before(async () => {
    if (!onPath('nginx')) throw new Error('nginx is needed (apt-get install -y nginx; npm test installs it as root)');
    // The origin trusts loopback (this nginx): a viewer is the client its X-Forwarded-For names.
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '1', TRUST_PROXY: 'loopback' });
    const s = await server.createStream('cache');
    id = s.id;
    pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { fps: 25, gop: 25 });
    await waitLive(server, id);

    nginx = await startNginxCache(server.httpPort);
    viaCache = `${nginx.base}/hls/${id}`;
    await waitFor('nginx up and the stream packaged', async () => (await fetch(`${viaCache}/index.m3u8`)).status === 200, 20000, 200);
    await waitFor('two complete segments', () => (server.hls.segmenter(id)?.segments.filter((x) => x.complete).length ?? 0) >= 2, 20000);
  });
  after(async () => {
    await pub?.kill('SIGKILL');
    // Stopped by its PID: SIGTERM to the master, which stops its workers (a SIGKILL needed is an error).
    await nginx?.stop();
    await server?.stop();
  });

  test('the shipped config passes nginx -t', async () => {
    const t = await nginx!.check();
    assert.equal(t.code, 0, t.output);
  });

  test('a viewer through nginx plays with blocking reloads; parts are cached, errors are not', async () => {
    let pl = parsePlaylist(await (await fetch(`${viaCache}/index.m3u8`)).text());
    assert.ok(pl.hint, 'a preload hint');
    let parts = 0;
    for (let i = 0; i < 12; i++) {
      const r = await step(viaCache, pl.hint!.msn, pl.hint!.index, pl.hint!.uri);
      const next = parsePlaylist(r.text);
      assert.ok(next.parts.some((p) => p.msn === pl.hint!.msn && p.index === pl.hint!.index), 'the blocking answer has the part it waited for');
      assert.ok(r.part > 100);
      parts++;
      pl = next;
    }
    assert.equal(parts, 12);
    // A part fetched again is a cache hit; a missing one is a 404 that is not kept.
    const known = pl.parts.at(-1)!;
    const again = await fetch(`${viaCache}/${known.uri}`);
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('x-cache-status'), 'HIT');
    assert.match(again.headers.get('cache-control') ?? '', /immutable/);
    const before = server.hls.requests;
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${viaCache}/nope.m4s`)).status, 404);
    assert.equal(server.hls.requests - before, 3, 'each 404 reached the origin (no-store)');
  });

  test('viewers through nginx are counted by their beacon: N viewers (N addresses) are N, within its window', async (t) => {
    const N = 40;
    // Each test viewer claims its own address to nginx, which appends the address it saw (loopback, trusted).
    const addr = (i: number) => `192.0.2.${i + 1}`;
    const start = parsePlaylist(await (await fetch(`${viaCache}/index.m3u8`)).text()).hint!;
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const headers = { 'X-Forwarded-For': addr(i), 'User-Agent': 'same-player/1' };
        let hint = start;
        for (let k = 0; k < 3; k++) {
          const [pl] = await Promise.all([fetch(`${viaCache}/index.m3u8?_HLS_msn=${hint.msn}&_HLS_part=${hint.index}`, { headers }), fetch(`${viaCache}/${hint.uri}`, { headers })]);
          hint = parsePlaylist(await pl.text()).hint!;
        }
      }),
    );
    // The cache answered most playlist requests: from those alone the origin sees only some of the N viewers.
    const fromPlaylists = server.hls.viewers(id);
    t.diagnostic(`viewers counted from the playlist requests that reached the origin: ${fromPlaylists} of ${N}`);
    assert.ok(fromPlaylists < N, `${fromPlaylists} of ${N} before any beacon`);
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const headers = { 'X-Forwarded-For': addr(i), 'User-Agent': 'same-player/1' };
        const ping = await fetch(`${viaCache}/ping?sid=viewer-${i}-0123456789`, { headers });
        assert.equal(ping.status, 204);
        assert.equal(ping.headers.get('cache-control'), 'no-store');
        assert.notEqual(ping.headers.get('x-cache-status'), 'HIT');
      }),
    );
    const direct = server.hls.viewers(id);
    assert.equal(direct, N, `viewers counted: ${direct}`);
    // A viewer pinging again is still one viewer; a second player session at one address is another.
    await fetch(`${viaCache}/ping?sid=viewer-0-0123456789`, { headers: { 'X-Forwarded-For': addr(0) } });
    assert.equal(server.hls.viewers(id), N);
    await fetch(`${viaCache}/ping?sid=another-tab-0123456789`, { headers: { 'X-Forwarded-For': addr(0) } });
    assert.equal(server.hls.viewers(id), N + 1);
  });

  test('hostile beacons: bad session ids are refused, one address cannot mint viewers', async () => {
    const before = server.hls.viewers(id);
    for (const q of ['', '?sid=', '?sid=short', `?sid=${'x'.repeat(65)}`, '?sid=has%20space', '?sid=a/b/c/d/e/f/g', '?sid=ok-ok-ok-ok&x=1']) {
      const r = await fetch(`${viaCache}/ping${q}`, { headers: { 'X-Forwarded-For': '198.51.100.7' } });
      assert.ok(r.status === 400 || r.status === 404, `${q}: ${r.status}`);
    }
    // 200 sessions from one address: at most 64 (VIEWERS_PER_ADDRESS) are counted.
    for (let i = 0; i < 200; i++) await fetch(`${viaCache}/ping?sid=flood-${i}-0123456789`, { headers: { 'X-Forwarded-For': '198.51.100.8' } });
    const after = server.hls.viewers(id);
    assert.ok(after - before <= 64, `${after - before} viewers from one address`);
    assert.ok(after - before >= 1);
  });

  test('200 viewers through nginx: the origin gets about one request per playlist update and per part', async (t) => {
    const VIEWERS = 200;
    const seg = server.hls.segmenter(id)!;
    const start = parsePlaylist(await (await fetch(`${viaCache}/index.m3u8`)).text()).hint!;
    const originBefore = server.hls.requests;
    const firstMsn = seg.nextPart();
    let viewerRequests = 0;
    const STEPS = 10;
    // Every viewer follows the live edge from the same hint for STEPS parts.
    await Promise.all(
      Array.from({ length: VIEWERS }, async () => {
        let hint = start;
        for (let i = 0; i < STEPS; i++) {
          const r = await step(viaCache, hint.msn, hint.index, hint.uri);
          viewerRequests += 2;
          const next = parsePlaylist(r.text).hint;
          assert.ok(next, 'a preload hint');
          hint = next;
        }
      }),
    );
    const origin = server.hls.requests - originBefore;
    const lastMsn = seg.nextPart();
    const partsSeen = STEPS;
    // Per part: one blocking playlist reload and one part request reach the origin; allow a few more (a segment's
    // completion is a playlist update of its own, a viewer that comes late, an answer that expired).
    const bound = 4 * (partsSeen + 2);
    assert.ok(viewerRequests === VIEWERS * STEPS * 2, `${viewerRequests} viewer requests`);
    assert.ok(origin <= bound, `origin got ${origin} requests for ${viewerRequests} viewer requests over ${partsSeen} parts (bound ${bound}; hint ${firstMsn.msn}.${firstMsn.index} -> ${lastMsn.msn}.${lastMsn.index})`);
    t.diagnostic(`origin requests: ${origin} for ${viewerRequests} viewer requests over ${partsSeen} parts`);
    assert.ok(origin >= partsSeen, `origin got ${origin} requests: at least one per part`);
  });
});
