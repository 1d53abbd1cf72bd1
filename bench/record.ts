/**
 * Recording benchmark (issue #15): what recording costs, how fast a recording replays, how fast recordings list.
 *
 *   flock /tmp/bench.lock npm run bench:record [-- --seconds 15 --streams 20 --rows 10000 --parts cpu,list]
 *
 * The server runs in this process (its CPU is process.cpuUsage; its disk writes /proc/self/io write_bytes, what
 * reached the block layer, and the recordings' bytes in the index); ffmpeg publishes the 30 s 720p 2.5 Mbit/s test
 * file in a loop (`-c copy`), one ffmpeg per stream, in their own processes.
 *
 * 1. One stream recorded vs one stream not (its `record` switched off, so it is neither recorded nor packaged), the
 *    same file, one after the other in this run: per recorded stream = CPU(on) - CPU(off).
 * 2. `--streams` recorded streams at once: the server's CPU and disk writes; every recording must grow.
 * 3. Replay of the recording made in 1 (ended): the VOD playlist, then its first segment (the byte range the
 *    playlist names): time to the first byte and to the whole, over 20 rounds; a seek = the playlist's middle
 *    segment by its byte range; and ffmpeg's first decoded frame from the playlist (process start included).
 * 4. Listing: `--rows` recordings inserted into a temp SQLite DB; the public listing's first page, one stream's first
 *    page, and every row through the public listing's cursor.
 * 5. Replay in Chromium (bench/record-replay.ts): hls.js on the recording's VOD playlist, the watch page's replay
 *    player and stock hls.js, `--runs` each: time to the first presented frame, and a seek to the middle.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startServer } from '../server/app';
import { loadConfig } from '../server/config';
import { createLogger } from '../server/log';
import { RecordingStore } from '../server/record/store';
import { openDb } from '../server/store/db';
import { operatorHeaders, run, TEST_ADMIN_TOKEN, waitFor, type Proc } from '../server/testing/harness';
import { replayInChromium } from './record-replay';
import { encodeTestFile } from './tools';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MEDIA = path.join(ROOT, 'bench', '.cache', 'media', 'testsrc2-720p30-2500k-aac128k-30s.flv');

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    settle: { type: 'string', default: '4' },
    streams: { type: 'string', default: '20' },
    rows: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '20' },
    /** Runs of each hls.js config in Chromium (5). */
    runs: { type: 'string', default: '10' },
    /** Which parts to run: cpu (1, 2, 3), list (4), browser (5; without cpu it records a `--seconds` stream first). */
    parts: { type: 'string', default: 'cpu,list,browser' },
  },
});
const parts = new Set(values.parts.split(','));
const seconds = Number(values.seconds);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => console.error(`[bench:record] ${m}`);
const pct = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN);
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

function writeBytes(): number {
  const m = /^write_bytes: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** CPU (% of a core) and disk writes (bytes/s) of this process over `s` seconds. */
async function measure(s: number): Promise<{ cpuPct: number; writeBps: number }> {
  const c0 = process.cpuUsage();
  const w0 = writeBytes();
  const t0 = process.hrtime.bigint();
  await sleep(s * 1000);
  const c = process.cpuUsage(c0);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  return { cpuPct: ((c.user + c.system) / 1e6 / wall) * 100, writeBps: (writeBytes() - w0) / wall };
}

/** GET with times to the first byte and to the end, ms. */
function timedGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; ttfb: number; total: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(url, { headers, agent: false }, (res) => {
      let ttfb = NaN;
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => {
        if (Number.isNaN(ttfb)) ttfb = performance.now() - t0;
        chunks.push(d);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ttfb: Number.isNaN(ttfb) ? performance.now() - t0 : ttfb, total: performance.now() - t0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function publish(rtmp: string, key: string): Proc {
  return run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', MEDIA, '-c', 'copy', '-f', 'flv', `${rtmp}/${key}`]);
}

async function stopAll(pubs: Proc[]): Promise<void> {
  for (const p of pubs) p.kill('SIGKILL');
  await Promise.all(pubs.map((p) => p.exited));
}

interface Row {
  what: string;
  result: string;
}

async function main(): Promise<void> {
  if (!existsSync(MEDIA)) {
    log('encoding the test file (once)');
    encodeTestFile(MEDIA, 44100, 300_000);
  }
  const rows: Row[] = [];
  if (parts.has('cpu') || parts.has('browser')) await media(rows);
  if (parts.has('list')) await listing(rows);
  console.log('| what | result |');
  console.log('| --- | --- |');
  for (const r of rows) console.log(`| ${r.what} | ${r.result} |`);
}

async function media(rows: Row[]): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'golive-bench-rec-'));
  const config = loadConfig({ PORT: '0', RTMP_PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ADMIN_TOKEN: TEST_ADMIN_TOKEN, LOG_LEVEL: 'silent', RECORD: 'on', PUBLISHER_GRACE_SECONDS: '0', RECORD_MIN_FREE_BYTES: '0' });
  const server = await startServer({ config, logger: createLogger('silent', false), withNext: false });
  const base = `http://127.0.0.1:${server.httpPort}`;
  const rtmp = `rtmp://127.0.0.1:${server.rtmpPort}/live`;
  const api = (method: string, p: string, body?: unknown) => fetch(`${base}${p}`, { method, headers: operatorHeaders(), body: body === undefined ? undefined : JSON.stringify(body) });
  const create = async (title: string, record: boolean | null) => {
    const s = (await (await api('POST', '/api/streams', { title })).json()) as { id: string; key: string };
    if (record !== null) await api('PATCH', `/api/streams/${s.id}`, { record });
    return s;
  };
  const recordingsOf = async (id: string) => ((await (await fetch(`${base}/api/streams/${id}/recordings`)).json()) as { recordings: Array<{ id: string; state: string; bytes: number; durationSeconds: number; urls: { playlist: string } }> }).recordings;
  let replayId: string | null = null;
  try {
    // 1. One stream, recorded then not (browser alone: recorded only).
    const single: Record<string, { cpuPct: number; writeBps: number }> = {};
    for (const mode of parts.has('cpu') ? (['on', 'off', 'off+hls'] as const) : (['on'] as const)) {
      const record = mode === 'on';
      const s = await create(`bench ${mode}`, record);
      const pub = publish(rtmp, s.key);
      await waitFor('live', () => server.hub.isLive(s.id), 20000);
      // off+hls: one HLS request starts its packager (kept for HLS_IDLE_STOP_SECONDS): the recorder's own cost is on - this.
      if (mode === 'off+hls') await (await fetch(`${base}/hls/${s.id}/index.m3u8`)).arrayBuffer();
      await sleep(Number(values.settle) * 1000);
      single[mode] = await measure(seconds);
      await stopAll([pub]);
      if (record) {
        const [rec] = await waitFor('the recording ended', async () => {
          const l = await recordingsOf(s.id);
          return l[0]?.state === 'ended' ? l : null;
        }, 20000);
        replayId = rec.id;
        log(`recorded ${rec.durationSeconds} s, ${(rec.bytes / 1048576).toFixed(1)} MiB (${f1((rec.bytes * 8) / rec.durationSeconds / 1000)} kbit/s)`);
      } else {
        await sleep(1000);
        if ((await recordingsOf(s.id)).length !== 0) throw new Error('a stream switched off was recorded');
      }
      log(`record ${mode}: ${f2(single[mode].cpuPct)} % of a core, ${f1(single[mode].writeBps / 1024)} KiB/s written`);
    }
    if (parts.has('cpu')) {
      rows.push({
        what: 'one recorded 2.5 Mbit/s stream: CPU, on vs off',
        result: `on ${f2(single.on.cpuPct)} % / off ${f2(single.off.cpuPct)} % / off but packaged for HLS ${f2(single['off+hls'].cpuPct)} % of a core: recording costs **${f2(single.on.cpuPct - single.off.cpuPct)} %** with the packaging it keeps running, **${f2(single.on.cpuPct - single['off+hls'].cpuPct)} %** for the writes alone; disk writes ${f1(single.on.writeBps / 1024)} KiB/s on vs ${f1(single.off.writeBps / 1024)} KiB/s off`,
      });
    }

    // 2. N recorded streams at once.
    if (parts.has('cpu')) {
      const n = Number(values.streams);
      const many = await Promise.all(Array.from({ length: n }, (_, i) => create(`bench many ${i}`, null)));
      const pubs = many.map((s) => publish(rtmp, s.key));
      try {
        await waitFor(`${n} live`, () => many.every((s) => server.hub.isLive(s.id)), 60000);
        await sleep(Number(values.settle) * 1000);
        const before = await Promise.all(many.map(async (s) => (await recordingsOf(s.id))[0]?.bytes ?? 0));
        const m = await measure(seconds);
        const after = await Promise.all(many.map(async (s) => (await recordingsOf(s.id))[0]?.bytes ?? 0));
        const grown = after.filter((b, i) => b > before[i]).length;
        const indexedBps = after.reduce((sum, b, i) => sum + b - before[i], 0) / seconds;
        log(`${n} streams: ${f2(m.cpuPct)} % of a core, ${f1(m.writeBps / 1048576)} MiB/s written, ${grown}/${n} recordings growing`);
        rows.push({
          what: `${n} recorded 2.5 Mbit/s streams at once`,
          result: `${f1(m.cpuPct)} % of a core (${f2(m.cpuPct / n)} % per stream, ingest and packaging included); disk ${f1(m.writeBps / 1048576)} MiB/s written (${f1(indexedBps / 1048576)} MiB/s of media indexed); ${grown}/${n} recordings growing`,
        });
      } finally {
        await stopAll(pubs);
      }
    }

    // 3. Replay.
    if (replayId && parts.has('cpu')) {
      const rounds = Number(values.rounds);
      const pl: number[] = [];
      const firstTtfb: number[] = [];
      const first: number[] = [];
      const both: number[] = [];
      const seek: number[] = [];
      const playlistUrl = `${base}/api/recordings/${replayId}/index.m3u8`;
      for (let i = 0; i < rounds; i++) {
        const p = await timedGet(playlistUrl);
        const text = p.body.toString();
        const ranges = [...text.matchAll(/#EXT-X-BYTERANGE:(\d+)@(\d+)\n(\S+)/g)].map((m) => ({ size: Number(m[1]), at: Number(m[2]), uri: m[3] }));
        const map = /#EXT-X-MAP:URI="([^"]+)",BYTERANGE="(\d+)@(\d+)"/.exec(text);
        if (!ranges.length || !map) throw new Error('no segments in the playlist');
        const fileUrl = new URL(ranges[0].uri, playlistUrl).toString();
        const rangeOf = (r: { size: number; at: number }) => ({ Range: `bytes=${r.at}-${r.at + r.size - 1}` });
        const init = await timedGet(fileUrl, rangeOf({ size: Number(map[2]), at: Number(map[3]) }));
        const seg = await timedGet(fileUrl, rangeOf(ranges[0]));
        if (seg.status !== 206 || seg.body.length !== ranges[0].size) throw new Error(`first segment: ${seg.status} ${seg.body.length}`);
        pl.push(p.total);
        firstTtfb.push(seg.ttfb);
        first.push(init.total + seg.total);
        both.push(p.total + init.total + seg.total);
        const mid = ranges[Math.floor(ranges.length / 2)];
        const s = await timedGet(fileUrl, rangeOf(mid));
        seek.push(s.total);
      }
      const sorted = (a: number[]) => a.slice().sort((x, y) => x - y);
      const ff: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const p = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', playlistUrl, '-map', '0:v:0', '-frames:v', '1', '-f', 'null', '-']);
        if ((await p.exited) !== 0) throw new Error(`ffmpeg: ${p.stderr()}`);
        ff.push(performance.now() - t0);
      }
      const ffSeek: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const p = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-ss', '8', '-i', playlistUrl, '-map', '0:v:0', '-frames:v', '1', '-f', 'null', '-']);
        if ((await p.exited) !== 0) throw new Error(`ffmpeg: ${p.stderr()}`);
        ffSeek.push(performance.now() - t0);
      }
      const b = sorted(both);
      rows.push({
        what: 'replay: VOD playlist + init + first segment',
        result: `p50 ${f1(pct(b, 0.5))} / max ${f1(b[b.length - 1])} ms over ${rounds} (playlist p50 ${f1(pct(sorted(pl), 0.5))} ms; first segment's first byte p50 ${f1(pct(sorted(firstTtfb), 0.5))} ms, init + segment p50 ${f1(pct(sorted(first), 0.5))} ms)`,
      });
      rows.push({ what: 'replay: first frame (ffmpeg from the playlist, process start included)', result: `p50 ${f1(pct(sorted(ff), 0.5))} / max ${f1(Math.max(...ff))} ms over 5` });
      const sk = sorted(seek);
      rows.push({ what: 'replay: seek (the middle segment by its byte range)', result: `p50 ${f1(pct(sk, 0.5))} / max ${f1(sk[sk.length - 1])} ms; ffmpeg -ss 8 to its first frame p50 ${f1(pct(sorted(ffSeek), 0.5))} ms` });
    }
    // 5. Replay in Chromium.
    if (replayId && parts.has('browser')) await browserReplay(rows, `${base}/api/recordings/${replayId}/index.m3u8`);
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function browserReplay(rows: Row[], playlistUrl: string): Promise<void> {
  const runs = Number(values.runs);
  const r = await replayInChromium(playlistUrl, runs, log);
  const sorted = (a: number[]) => a.slice().sort((x, y) => x - y);
  const stat = (a: number[]) => `p50 **${f1(pct(sorted(a), 0.5))}** / p95 ${f1(pct(sorted(a), 0.95))} ms`;
  const firstSegEnd = (x: (typeof r.ours)[number]) => {
    const media = (x.loads.media ?? []).slice().sort((a, b) => a.end - b.end);
    return media.length >= 2 ? media[1].end - x.t0 : NaN;
  };
  const playlistEnd = (x: (typeof r.ours)[number]) => (x.loads.playlist?.[0]?.end ?? NaN) - x.t0;
  for (const kind of ['ours', 'stock'] as const) {
    const label = kind === 'ours' ? "the watch page's replay player" : 'stock hls.js (`new Hls()`)';
    rows.push({
      what: `replay in Chromium, ${label}: first frame`,
      result: `${stat(r[kind].map((x) => x.ttff))} over ${runs} (playlist loaded at p50 ${f1(pct(sorted(r[kind].map(playlistEnd)), 0.5))} ms, init + first segment at ${f1(pct(sorted(r[kind].map(firstSegEnd)), 0.5))} ms)`,
    });
    rows.push({ what: `replay in Chromium, ${label}: seek to the middle → that frame presented`, result: `${stat(r[kind].map((x) => x.seek))} over ${runs}` });
  }
}

async function listing(rows: Row[]): Promise<void> {
  // 4. Listing from SQLite.
  const n = Number(values.rows);
  const dbDir = await mkdtemp(path.join(os.tmpdir(), 'golive-bench-list-'));
  try {
    const db = openDb(dbDir);
    const store = new RecordingStore(db);
    const streams = 50;
    const insertStream = db.prepare("INSERT INTO streams (id, title, created_at, key_hash, listed, unused_since) VALUES (?, ?, 0, x'00', 1, 0)");
    const insert = db.prepare(
      "INSERT INTO recordings (id, stream_id, started_at, ended_at, duration_us, bytes, init_size, state, error, thumbnail) VALUES (?, ?, ?, ?, 60000000, 1000000, 800, 'ended', NULL, 1)",
    );
    const t0 = performance.now();
    db.transaction(() => {
      for (let s = 0; s < streams; s++) insertStream.run(`stream-${s}`, `Stream ${s}`);
      for (let i = 0; i < n; i++) insert.run(i.toString(16).padStart(16, '0'), `stream-${i % streams}`, 1_700_000_000_000 + i * 60_000, 1_700_000_060_000 + i * 60_000);
    })();
    const insertMs = performance.now() - t0;
    const time = (fn: () => unknown, reps = 50) => {
      const ts: number[] = [];
      for (let i = 0; i < reps; i++) {
        const a = performance.now();
        fn();
        ts.push(performance.now() - a);
      }
      ts.sort((x, y) => x - y);
      return { p50: pct(ts, 0.5), max: ts[ts.length - 1] };
    };
    const firstPage = time(() => store.listed(51, null));
    const streamPage = time(() => store.byStream('stream-7', 101, null));
    const all = time(() => store.listed(n + 1, null), 10);
    const paged = time(() => {
      let cursor: { startedAt: number; id: string } | null = null;
      let got = 0;
      for (;;) {
        const page = store.listed(51, cursor);
        got += Math.min(50, page.length);
        if (page.length <= 50) break;
        const last = page[49];
        cursor = { startedAt: last.startedAt, id: last.id };
      }
      if (got !== n) throw new Error(`paged ${got} of ${n}`);
    }, 5);
    const perStream = n / streams;
    const streamPaged = time(() => {
      let cursor: { startedAt: number; id: string } | null = null;
      let got = 0;
      for (;;) {
        const page = store.byStream('stream-7', 21, cursor);
        got += Math.min(20, page.length);
        if (page.length <= 20) break;
        cursor = { startedAt: page[19].startedAt, id: page[19].id };
      }
      if (got !== perStream) throw new Error(`paged ${got} of ${perStream}`);
    }, 20);
    db.close();
    log(`inserted ${n} in ${f1(insertMs)} ms`);
    rows.push({ what: `listing ${n} recordings (SQLite): the public first page (50)`, result: `p50 ${f2(firstPage.p50)} / max ${f2(firstPage.max)} ms; one stream's page (100) p50 ${f2(streamPage.p50)} ms; one stream's ${perStream} page by page (20 each, cursor) p50 ${f2(streamPaged.p50)} / max ${f2(streamPaged.max)} ms in all` });
    rows.push({ what: `listing ${n} recordings (SQLite): all of them`, result: `one query p50 ${f1(all.p50)} / max ${f1(all.max)} ms; page by page (50 each, cursor) p50 ${f1(paged.p50)} ms in all (insert of ${n}: ${f1(insertMs)} ms)` });
  } finally {
    await rm(dbDir, { recursive: true, force: true });
  }
}


main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
