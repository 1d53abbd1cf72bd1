/**
 * Stream snapshots: real server, real ffmpeg publishing over RTMP, real ffmpeg making the JPEG.
 * The service's limits (timeout, output bound, concurrency, close) are driven with stand-in processes.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FfmpegInfo } from '../ffmpeg/locate';
import type { StreamStats } from '../media/hub';
import { publishTestStream, run, startTestServer, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';
import type { Segmenter } from './segmenter';
import { SnapshotService, type SnapshotOptions, type SpawnFn } from './snapshot';

const children = new Set<ChildProcessWithoutNullStreams>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Spawns through node's spawn, remembering every child (for the no-orphan checks) and the most at once. */
function tracking(replace?: { command: string; args: string[] }) {
  let now = 0;
  const t = {
    max: 0,
    pids: [] as number[],
    spawn: ((command: string, args: string[]) => {
      const c = replace ? spawn(replace.command, replace.args, { stdio: 'pipe' }) : spawn(command, args, { stdio: 'pipe' });
      children.add(c);
      if (c.pid) t.pids.push(c.pid);
      t.max = Math.max(t.max, ++now);
      c.on('close', () => {
        now--;
        children.delete(c);
      });
      return c;
    }) as SpawnFn,
  };
  return t;
}

/** A stand-in "ffmpeg": node running a script. */
const node = (script: string) => ({ command: process.execPath, args: ['-e', script] });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function probeJpeg(dir: string, jpeg: Buffer): Promise<{ codec_name: string; width: number; height: number }> {
  const file = path.join(dir, `shot-${Date.now()}-${Math.random().toString(36).slice(2)}.jpg`);
  await writeFile(file, jpeg);
  const p = run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', file], { timeoutMs: 20000 });
  assert.equal(await p.exited, 0, p.stderr());
  return (JSON.parse(p.stdout().toString()) as { streams: Array<{ codec_name: string; width: number; height: number }> }).streams[0];
}

describe('stream snapshots', () => {
  let server: TestServer;
  let pub: Proc;
  let id: string;
  let url: string;
  let tmp: string;
  /** A service of our own over the server's hub and packager, with other options. */
  const service = (o: Partial<SnapshotOptions> = {}) => new SnapshotService({ ffmpeg: server.ffmpeg, hub: server.hub, hls: server.hls, ...o });

  before(async () => {
    // RECORD=off: on-demand packaging is what is tested (a recorded stream is packaged from its publish).
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '1', RECORD: 'off' });
    assert.ok(server.ffmpeg.found, 'these tests need ffmpeg');
    tmp = await mkdtemp(path.join(os.tmpdir(), 'golive-snap-'));
    const s = await server.createStream('snapshots');
    id = s.id;
    url = `${server.http}/api/streams/${id}/snapshot.jpg`;
    pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { fps: 25, gop: 25 });
    await waitLive(server, id);
    // Nobody watches yet, so nothing is packaged; a snapshot is still offered (taking it starts the packager).
    assert.equal(server.hls.segmenter(id), undefined);
    assert.equal(server.snapshots.available(id), true);
    assert.equal(server.hls.activate(id), true);
    await waitFor('a keyframe part', () => server.hls.segmenter(id)?.segments.some((x) => x.parts.some((p) => p.independent)), 20000);
  });
  after(async () => {
    await pub?.kill('SIGKILL');
    await server?.stop();
    // The server's close path closed the snapshot service: nothing running, nothing new starts.
    if (server) {
      assert.equal(server.snapshots.active, 0);
      const r = await server.snapshots.get(id);
      assert.ok(!r.ok && r.status === 503);
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('concurrent requests share one ffmpeg; the JPEG decodes at 480 px wide', async () => {
    assert.equal(server.snapshots.spawned, 0);
    const responses = await Promise.all(Array.from({ length: 8 }, () => fetch(url)));
    const bodies = await Promise.all(responses.map(async (r) => Buffer.from(await r.arrayBuffer())));
    for (const r of responses) {
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'image/jpeg');
      assert.equal(r.headers.get('cache-control'), 'public, max-age=10');
    }
    for (const b of bodies) assert.ok(b.equals(bodies[0]), 'every request got the same image');
    assert.equal(server.snapshots.spawned, 1);
    const info = await probeJpeg(tmp, bodies[0]);
    assert.equal(info.codec_name, 'mjpeg');
    assert.equal(info.width, 480);
    assert.equal(info.height, 360);
  });

  test('a second request within 10 s is served from the cache (no ffmpeg); HEAD too', async () => {
    const before = server.snapshots.spawned;
    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.ok((await r.arrayBuffer()).byteLength > 1000);
    const h = await fetch(url, { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('content-type'), 'image/jpeg');
    assert.ok(Number(h.headers.get('content-length')) > 1000);
    assert.equal(server.snapshots.spawned, before);
  });

  test('the live list names the snapshot only while there is one to show (the page never requests a 404 image)', async () => {
    const list = async () =>
      ((await (await fetch(`${server.http}/api/streams`)).json()) as { streams: Array<{ id: string; snapshot: string | null }> }).streams.find((x) => x.id === id);
    assert.equal((await list())?.snapshot, `/api/streams/${id}/snapshot.jpg`);
    assert.equal(server.snapshots.available(id), true);
    assert.equal(server.snapshots.available('nosuchstream'), false);
    const noFfmpeg = service({ ffmpeg: { ...server.ffmpeg, found: false } as FfmpegInfo });
    assert.equal(noFfmpeg.available(id), false);
  });

  test('unknown, malformed and not-live streams get a fast 404 without ffmpeg; other methods 405', async () => {
    const before = server.snapshots.spawned;
    const idle = await server.createStream('never live');
    for (const p of ['nosuch', idle.id, 'a%2Fb', '%E0%A4%A', 'x'.repeat(65), 'bad.name']) {
      const started = Date.now();
      const r = await fetch(`${server.http}/api/streams/${p}/snapshot.jpg`);
      assert.equal(r.status, 404, p);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.ok(Date.now() - started < 1000, `${p} answered at once`);
    }
    assert.equal((await fetch(url, { method: 'POST' })).status, 405);
    assert.equal(server.snapshots.spawned, before);
  });

  test('no ffmpeg on the server: 404 and nothing spawned', async () => {
    const t = tracking();
    const missing: FfmpegInfo = { found: false, reason: 'none', skipped: [] };
    const s = service({ ffmpeg: missing, spawn: t.spawn });
    const r = await s.get(id);
    assert.deepEqual(r.ok ? null : r.status, 404);
    assert.equal(s.spawned, 0);
    await s.close();
  });

  test('at most maxConcurrent ffmpegs in the server; every request still gets its image', async () => {
    // Six "streams" that are all live and share the real stream's media.
    const ids = ['s1', 's2', 's3', 's4', 's5', 's6'];
    const realStats = server.hub.stats(id)!;
    const t = tracking();
    const s = service({
      hub: { stats: (x: string) => (ids.includes(x) ? ({ ...realStats, id: x } as StreamStats) : null), events: server.hub.events },
      hls: { segmenter: () => server.hls.segmenter(id) },
      maxConcurrent: 2,
      spawn: t.spawn,
    });
    const results = await Promise.all(ids.map((x) => s.get(x)));
    for (const r of results) assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(s.spawned, 6);
    assert.ok(t.max <= 2, `${t.max} at once`);
    assert.equal(t.max, 2);
    await s.close();
  });

  test('busy: a stream with an older image gets it at once instead of waiting for a slot', async () => {
    // A stand-in packager whose newest keyframe part we can replace, shared by streams "a" and "b".
    const real = server.hls.segmenter(id)!;
    const part = real.segments.flatMap((x) => x.parts).find((p) => p.independent)!;
    const fake = { run: real.run, init: real.init, ended: false, segments: [{ parts: [part] }] };
    let hang = false;
    const ok = tracking();
    const hanging = tracking(node('setTimeout(() => {}, 60000)'));
    const s = service({
      hub: { stats: (x: string) => (x === 'a' || x === 'b' ? ({ ...server.hub.stats(id)!, id: x } as StreamStats) : null), events: server.hub.events },
      hls: { segmenter: () => fake as unknown as Segmenter },
      maxConcurrent: 1,
      cacheMs: 0,
      timeoutMs: 3000,
      spawn: (c, a) => (hang ? hanging.spawn(c, a) : ok.spawn(c, a)),
    });
    const first = await s.get('a');
    assert.ok(first.ok);
    hang = true;
    fake.segments = [{ parts: [{ ...part, msn: part.msn + 1 }] }]; // a newer keyframe: "a"'s image is out of date
    const b = s.get('b'); // takes the only slot, and hangs
    await waitFor('b running', () => s.active === 1, 5000, 10);
    const started = Date.now();
    const again = await s.get('a');
    assert.ok(again.ok && again.stale, JSON.stringify(again.ok ? { stale: again.stale } : again));
    assert.ok(again.jpeg.equals(first.jpeg));
    assert.ok(Date.now() - started < 200, 'at once');
    assert.equal(s.spawned, 2);
    await s.close();
    assert.ok(!(await b).ok);
  });

  test('an ffmpeg that hangs is killed after the timeout; the failure is cached (503, no respawn)', async () => {
    const t = tracking(node('setTimeout(() => {}, 60000)'));
    const s = service({ timeoutMs: 300, spawn: t.spawn });
    const started = Date.now();
    const r = await s.get(id);
    assert.ok(!r.ok && r.status === 503 && /longer than 300 ms/.test(r.reason), JSON.stringify(r));
    assert.ok(Date.now() - started < 3000);
    assert.equal(t.pids.length, 1);
    assert.ok(!alive(t.pids[0]), 'the hanging process is gone');
    const again = await s.get(id);
    assert.ok(!again.ok && again.status === 503);
    assert.equal(s.spawned, 1, 'a failure is remembered for the cache time');
    await s.close();
  });

  test('an ffmpeg that writes too much is killed', async () => {
    const t = tracking(node('process.stdout.write(Buffer.alloc(4 << 20)); setTimeout(() => {}, 60000)'));
    const s = service({ maxBytes: 1 << 20, spawn: t.spawn });
    const r = await s.get(id);
    assert.ok(!r.ok && r.status === 503 && /more than/.test(r.reason), JSON.stringify(r));
    assert.ok(!alive(t.pids[0]));
    await s.close();
  });

  test('an ffmpeg that fails or writes no JPEG: 503', async () => {
    for (const script of ['process.exit(1)', 'process.stdout.write("not a jpeg")']) {
      const s = service({ spawn: tracking(node(script)).spawn });
      const r = await s.get(id);
      assert.ok(!r.ok && r.status === 503, `${script}: ${JSON.stringify(r)}`);
      await s.close();
    }
    const s = service({ ffmpeg: { ...server.ffmpeg, path: '/nonexistent/ffmpeg' } as FfmpegInfo });
    const r = await s.get(id);
    assert.ok(!r.ok && r.status === 503, JSON.stringify(r));
    await s.close();
  });

  test('close() kills running ffmpegs and leaves none behind; later requests get 503', async () => {
    const t = tracking(node('setTimeout(() => {}, 60000)'));
    const s = service({ timeoutMs: 30000, spawn: t.spawn });
    const pending = s.get(id);
    await waitFor('the process running', () => s.active === 1, 5000, 10);
    const pid = s.pids()[0];
    assert.ok(alive(pid));
    await s.close();
    assert.equal(s.active, 0);
    assert.ok(!alive(pid), 'killed');
    const r = await pending;
    assert.ok(!r.ok && r.status === 503);
    const later = await s.get(id);
    assert.ok(!later.ok && later.status === 503);

    // With the real ffmpeg, closed while it runs.
    const real = tracking();
    const s2 = service({ spawn: real.spawn });
    const p2 = s2.get(id);
    await new Promise((r) => setImmediate(r)); // the slot is taken and ffmpeg spawned in the next microtasks
    assert.equal(s2.spawned, 1);
    assert.equal(s2.active, 1);
    await s2.close();
    assert.equal(s2.active, 0);
    assert.ok(!(await p2).ok, 'killed before it finished');
    for (const p of real.pids) assert.ok(!alive(p), `ffmpeg ${p} is gone`);
  });

  test('when the stream ends its image is dropped and the route says 404', async () => {
    const r = await fetch(url);
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    assert.ok(server.snapshots.cached(id));
    await pub.kill('SIGKILL');
    await waitFor('the stream ended', () => server.hub.stats(id)?.state !== 'live' && server.hub.stats(id)?.state !== 'reconnecting', 15000);
    assert.equal(server.snapshots.cached(id), false);
    assert.equal(server.snapshots.available(id), false);
    const before = server.snapshots.spawned;
    assert.equal((await fetch(url)).status, 404);
    assert.equal(server.snapshots.spawned, before);
  });
});
