/**
 * Replay in Chromium as a viewer sees it (issue #15, called from bench/record.ts): headless Debian Chromium loads
 * hls.js on a recording's VOD playlist, in a fresh browser context per run (nothing cached; one warm-up run first, not counted), two ways:
 *   ours   the watch page's replay player (app/watch/player/replay-player.ts, transpiled as served, its hls.js config)
 *   stock  `new Hls()` with hls.js's defaults, loadSource + attachMedia + play
 * Time to first frame: from the call that starts the player (hls.js already loaded, as on the page where the chunk is
 * fetched with the page) to the first requestVideoFrameCallback (a frame presented). Seek: once playing, currentTime
 * to the middle of the seekable range, then the first presented frame whose mediaTime is that moment (± 0.5 s).
 * The page records when the playlist, the init and the first segment responses ended (Resource Timing), and for stock
 * hls.js the times of its first events (manifest, attach, first fragment loaded / appended), for the why.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PLAYER = path.join(ROOT, 'app', 'watch', 'player');

const PAGE = `<!doctype html><html><head><meta charset="utf-8">
<script type="importmap">{"imports":{"hls.js":"/hls.mjs"}}</script></head><body>
<script type="module">
import Hls from 'hls.js';
import { createReplayPlayer } from '/player/replay-player.js';
const frame = (video, ok) => new Promise((resolve) => {
  const cb = (now, md) => (ok(md) ? resolve({ now, mediaTime: md.mediaTime }) : video.requestVideoFrameCallback(cb));
  video.requestVideoFrameCallback(cb);
});
const ends = (src) => {
  const out = {};
  for (const e of performance.getEntriesByType('resource')) {
    if (!e.name.startsWith(new URL(src).origin)) continue;
    const kind = e.name.endsWith('.m3u8') ? 'playlist' : 'media';
    (out[kind] ??= []).push({ start: Math.round(e.startTime), end: Math.round(e.responseEnd), bytes: e.encodedBodySize });
  }
  return out;
};
window.run = async (kind, src) => {
  const video = document.createElement('video');
  video.width = 640; video.height = 360; video.muted = true; video.playsInline = true;
  document.body.append(video);
  const first = frame(video, () => true);
  const t0 = performance.now();
  if (kind === 'ours') {
    await createReplayPlayer(video, src, { onFatal: () => { window.fatal = true; }, onUnsupported: (m) => { window.fatal = m; } });
  } else {
    const hls = new Hls(window.stockConfig ?? {});
    window.events = [];
    for (const e of ['MEDIA_ATTACHED', 'MANIFEST_PARSED', 'LEVEL_LOADED', 'FRAG_LOADING', 'FRAG_LOADED', 'FRAG_PARSING_INIT_SEGMENT', 'FRAG_PARSED', 'BUFFER_CREATED', 'BUFFER_APPENDED', 'FRAG_BUFFERED']) hls.on(Hls.Events[e], (_n, d) => window.events.length < 12 && window.events.push(e + ' ' + Math.round(performance.now() - t0) + (d && d.frag ? ' sn' + d.frag.sn : '')));
    hls.loadSource(src);
    hls.attachMedia(video);
    video.play().catch(() => undefined);
  }
  const f = await first;
  const ttff = f.now - t0;
  const loads = ends(src);
  // Playing: currentTime advances.
  const c0 = video.currentTime;
  while (video.currentTime <= c0 + 0.2) await new Promise((r) => setTimeout(r, 20));
  const target = (video.seekable.start(0) + video.seekable.end(0)) / 2;
  const seeked = frame(video, (md) => Math.abs(md.mediaTime - target) < 0.5);
  const t1 = performance.now();
  video.currentTime = target;
  const s = await seeked;
  return { events: window.events, ttff, seek: s.now - t1, firstMediaTime: f.mediaTime, seekMediaTime: s.mediaTime, target, t0: Math.round(t0), loads };
};
window.ready = true;
</script></body></html>`;

function served(file: string): string | Buffer {
  const source = readFileSync(file);
  if (!file.endsWith('.ts')) return source;
  const js = ts.transpileModule(source.toString('utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  return js.replace(/from '\.\/([a-z0-9-]+)'/g, "from '/player/$1.js'");
}

async function pagesServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    const js = { 'Content-Type': 'text/javascript; charset=utf-8' };
    if (p === '/') return void res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
    if (p === '/hls.mjs') return void res.writeHead(200, js).end(served(path.join(ROOT, 'node_modules', 'hls.js', 'dist', 'hls.min.mjs')));
    const m = /^\/player\/([a-z0-9-]+)\.js$/.exec(p);
    if (m) {
      try {
        return void res.writeHead(200, js).end(served(path.join(PLAYER, `${m[1]}.ts`)));
      } catch {
        /* not a player module */
      }
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

export interface ReplayRun {
  ttff: number;
  seek: number;
  firstMediaTime: number;
  seekMediaTime: number;
  target: number;
  t0: number;
  loads: Record<string, Array<{ start: number; end: number; bytes: number }>>;
}

/** `runs` runs of each kind against the playlist; every run in a fresh context. */
export async function replayInChromium(playlistUrl: string, runs: number, log: (m: string) => void): Promise<Record<'ours' | 'stock', ReplayRun[]>> {
  const pages = await pagesServer();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    // As playwright.config.ts.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--autoplay-policy=no-user-gesture-required'],
  });
  const out: Record<'ours' | 'stock', ReplayRun[]> = { ours: [], stock: [] };
  try {
    // Run 0 is a warm-up, not counted: the browser's first page starts its renderer and media stack (a viewer's
    // browser is already running).
    for (let i = 0; i <= runs; i++) {
      for (const kind of ['ours', 'stock'] as const) {
        const context = await browser.newContext();
        try {
          const page = await context.newPage();
          page.on('pageerror', (e) => log(`page error: ${e.message}`));
          await page.goto(pages.url);
          await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
          const r = await page.evaluate(([k, src]) => (window as unknown as { run: (k: string, s: string) => Promise<ReplayRun> }).run(k, src), [kind, playlistUrl] as const);
          if (i > 0) out[kind].push(r);
          log(`${kind} #${i}: first frame ${r.ttff.toFixed(0)} ms (media ${r.firstMediaTime.toFixed(2)} s), seek to ${r.target.toFixed(1)} s ${r.seek.toFixed(0)} ms; loads ${JSON.stringify(r.loads)} (t0 ${r.t0}) ${JSON.stringify((r as unknown as { events?: string[] }).events ?? [])}`);
        } finally {
          await context.close();
        }
      }
    }
  } finally {
    await browser.close();
    await pages.close();
  }
  return out;
}
