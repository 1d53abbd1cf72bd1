/**
 * LL-HLS over real HTTP from a real ffmpeg RTMP publish.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { probe, publishTestStream, run, startTestServer, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';

function attrs(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.slice(line.indexOf(':') + 1).matchAll(/([A-Z-]+)=("[^"]*"|[^,]*)/g)) out[m[1]] = m[2].replace(/^"|"$/g, '');
  return out;
}

describe('LL-HLS from an RTMP publish', () => {
  let server: TestServer;
  let pub: Proc;
  let id: string;
  let base: string;
  let tmp: string;
  before(async () => {
    // RECORD=off: on-demand packaging is what is tested (a recorded stream is packaged from its publish).
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '1', RECORD: 'off' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'golive-hls-'));
    const s = await server.createStream('hls');
    id = s.id;
    base = `${server.http}/hls/${id}`;
    pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { fps: 25, gop: 25 });
    await waitLive(server, id);
    // Packaged on demand (HLS_IDLE_STOP_SECONDS, default 60): nothing until a viewer asks.
    assert.equal(server.hls.segmenter(id), undefined, 'not packaged before an HLS request');
    assert.equal((await fetch(`${base}/index.m3u8`)).status, 200);
    await waitFor('three segments', () => (server.hls.segmenter(id)?.segments.filter((x) => x.complete).length ?? 0) >= 3, 20000);
  });
  after(async () => {
    await pub.kill('SIGKILL');
    await server.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  test('playlist, init, segments and parts have the right types, caching and CORS', async () => {
    const res = await fetch(`${base}/index.m3u8`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.match(res.headers.get('cache-control') ?? '', /max-age=1\b/);
    const text = await res.text();
    const lines = text.split('\n');
    const map = attrs(lines.find((l) => l.startsWith('#EXT-X-MAP:'))!).URI;
    const seg = lines.find((l) => l.endsWith('.m4s') && !l.startsWith('#'))!;
    const part = attrs(lines.find((l) => l.startsWith('#EXT-X-PART:'))!).URI;
    for (const u of [map, seg, part]) {
      const r = await fetch(`${base}/${u}`);
      assert.equal(r.status, 200, u);
      assert.equal(r.headers.get('content-type'), 'video/mp4');
      assert.match(r.headers.get('cache-control') ?? '', /immutable/);
      assert.ok((await r.arrayBuffer()).byteLength > 100);
    }
    const pre = await fetch(`${base}/index.m3u8`, { method: 'OPTIONS' });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  });

  test('unknown streams, bad names and path tricks get a fast 404; bad params 400', async () => {
    for (const p of ['/hls/nosuch/index.m3u8', `/hls/${id}/../../etc/passwd`, `/hls/${id}/%2e%2e%2fpasswd`, `/hls/${id}/00000000-seg1.m4s`, '/hls/a%2Fb/index.m3u8']) {
      const r = await fetch(`${server.http}${p}`);
      assert.equal(r.status, 404, p);
    }
    const seq = server.hls.segmenter(id)!.nextPart().msn;
    assert.equal((await fetch(`${base}/index.m3u8?_HLS_msn=${seq + 10}`)).status, 400);
    assert.equal((await fetch(`${base}/index.m3u8?_HLS_part=1`)).status, 400);
    assert.equal((await fetch(`${base}/index.m3u8?_HLS_msn=abc`)).status, 400);
  });

  test('blocking playlist reload returns once the requested part exists', async () => {
    const seg = server.hls.segmenter(id)!;
    const next = seg.nextPart();
    const want = next.index + 1; // two parts ahead: certainly not there yet
    const started = Date.now();
    const res = await fetch(`${base}/index.m3u8?_HLS_msn=${next.msn}&_HLS_part=${want}`);
    const waited = Date.now() - started;
    assert.equal(res.status, 200);
    const text = await res.text();
    const uri = `${seg.run}-part${next.msn}.${want}.m4s`;
    const rolledOver = seg.segments.find((s) => s.msn === next.msn)?.complete;
    assert.ok(text.includes(`URI="${uri}"`) || rolledOver, `playlist lists ${uri}`);
    assert.ok(waited >= 50, `it waited for the part (${waited} ms)`);
    assert.ok(waited < 3000, `and no longer than needed (${waited} ms)`);
  });

  test('a blocking request for the preload-hinted part returns the part when it lands', async () => {
    const text = await (await fetch(`${base}/index.m3u8`)).text();
    const hint = attrs(text.split('\n').find((l) => l.startsWith('#EXT-X-PRELOAD-HINT:'))!).URI;
    const r = await fetch(`${base}/${hint}`);
    assert.equal(r.status, 200);
    const body = Buffer.from(await r.arrayBuffer());
    assert.equal(body.toString('latin1', 4, 8), 'moof');
  });

  test('delta playlists and viewer counting', async () => {
    const r = await fetch(`${base}/index.m3u8?_HLS_skip=YES`);
    assert.equal(r.status, 200);
    assert.ok((await r.text()).startsWith('#EXTM3U'));
    const info = (await (await fetch(`${server.http}/api/streams/${id}`)).json()) as { viewers: number };
    assert.ok(info.viewers >= 1, `viewers ${info.viewers}`);
  });

  test('ffprobe sees H.264 + AAC, and ffmpeg pulls 5 s whose frame count matches', async () => {
    const streams = await probe(`${base}/index.m3u8`);
    assert.equal(streams.find((s) => s.codec_type === 'video')?.codec_name, 'h264');
    assert.equal(streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac');
    const out = path.join(tmp, 'pull.mp4');
    const pull = run('ffmpeg', ['-v', 'error', '-i', `${base}/index.m3u8`, '-t', '5', '-c', 'copy', '-y', out], { timeoutMs: 40000 });
    assert.equal(await pull.exited, 0, pull.stderr());
    const p = run('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_type,nb_read_frames:format=duration', '-of', 'json', out], { timeoutMs: 30000 });
    assert.equal(await p.exited, 0);
    const info = JSON.parse(p.stdout().toString()) as { streams: Array<{ codec_type: string; nb_read_frames: string }>; format: { duration: string } };
    const duration = Number(info.format.duration);
    assert.ok(duration >= 4.5 && duration <= 5.5, `duration ${duration}`);
    const frames = Number(info.streams.find((s) => s.codec_type === 'video')!.nb_read_frames);
    assert.ok(Math.abs(frames - duration * 25) <= 3, `${frames} frames in ${duration} s at 25 fps`);
  });

  test('when the stream ends the playlist gets EXT-X-ENDLIST', async () => {
    await pub.kill('SIGKILL');
    await waitFor('ENDLIST', async () => (await (await fetch(`${base}/index.m3u8`)).text()).includes('#EXT-X-ENDLIST'), 10000);
  });
});
