/**
 * Issue #17: a stock LL-HLS player (the hls.js npm package, default config, lowLatencyMode on by default) fed by a
 * browser broadcast (/broadcast: fake camera → MediaRecorder → /ingest → ffmpeg → our relay) plays close to the
 * live edge from its first second. Latency = this page's Date.now() − hls.playingDate (the playlist's
 * EXT-X-PROGRAM-DATE-TIME, which is anchored to the broadcaster's capture clock), sampled every 250 ms.
 *
 * OPEN GOAL: this test fails today, so it is outside `npm test` (playwright.config.ts testIgnore); run it with
 * `E2E_OPEN=1 npx playwright test e2e/open/`. hls.js starts PART-HOLD-BACK (0.6 s) behind the edge and keeps its
 * own start-up on top for good (0.4-1 s on a quiet machine, 2-3.6 s when its transmux worker starts on a loaded one):
 * here 2.6-3.4 s by the playlist's PDT with a quiet machine (the 720p broadcaster shares the browser), 5 s and more on
 * a loaded one; the pixel-clock bench's stock hls.js, 1.2-1.7 s (docs/BENCHMARKS.md known issues).
 *
 * STOCK_HLSJS_LOG=file writes what hls.js saw at its start (playlists, buffered ranges, stalls) for diagnosis.
 */
import { appendFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect, test, type Page } from '@playwright/test';
import { ORIGIN, signInContext } from '../support';

const require = createRequire(import.meta.url);
test.describe.configure({ timeout: 150_000 });

const PLAYER_URL = `${ORIGIN}/__e2e_stock_hlsjs.html`;
/** Seconds of latency samples after the first second of playback. */
const WINDOW_S = 20;

interface Sample {
  t: number;
  latencyMs: number | null;
  targetLatency: number | null;
  bufferAhead: number;
  /** hls.js's live edge (media time of the newest part) and the playhead, s. */
  edge: number | null;
  currentTime: number;
  pdtAtEdge: number | null;
}
interface PlayerState {
  samples: Sample[];
  stalls: number;
  errors: string[];
  fatal: string | null;
  log: string[];
  playingSince: number | null;
}

async function goLiveFromBroadcast(page: Page): Promise<string> {
  await page.context().grantPermissions(['camera', 'microphone']);
  await page.goto('/broadcast');
  await expect(page.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
  await page.getByTestId('go-live').click();
  await expect(page.getByTestId('status')).toHaveText('live', { timeout: 45_000 });
  const { streamId } = await page.evaluate(() => (window as unknown as { __golive: { state(): { streamId: string | null } } }).__golive.state());
  expect(streamId).toBeTruthy();
  return streamId as string;
}

/** A bare page on our origin with stock hls.js: `new Hls()` with no config at all. */
async function openStockPlayer(page: Page, src: string, debug: boolean): Promise<void> {
  await page.route(PLAYER_URL, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>stock hls.js</title><video id="v" muted autoplay playsinline></video>' }));
  await page.goto(PLAYER_URL);
  await page.addScriptTag({ path: require.resolve('hls.js/dist/hls.min.js') });
  await page.evaluate(([src, debug]) => {
    type Hls = {
      on(ev: string, fn: (ev: string, data: never) => void): void;
      loadSource(u: string): void;
      attachMedia(v: HTMLVideoElement): void;
      playingDate: Date | null;
      targetLatency: number | null;
      latestLevelDetails: { edge: number; fragments: Array<{ start: number; programDateTime: number | null }> } | null;
    };
    const H = (window as unknown as { Hls: { new (config?: object): Hls; Events: Record<string, string> } }).Hls;
    const video = document.getElementById('v') as HTMLVideoElement;
    const state: PlayerState = { samples: [], stalls: 0, errors: [], fatal: null, log: [], playingSince: null };
    (window as unknown as { player: PlayerState }).player = state;
    const ranges = () => Array.from({ length: video.buffered.length }, (_, i) => `${video.buffered.start(i).toFixed(3)}-${video.buffered.end(i).toFixed(3)}`).join(' ');
    const t0 = Date.now();
    const note = (s: string) => state.log.length < 200 && state.log.push(`${((Date.now() - t0) / 1000).toFixed(2)} ct=${video.currentTime.toFixed(3)} [${ranges()}] ${s}`);
    // Diagnosis only (STOCK_HLSJS_LOG): hls.js's own debug log; the test itself runs `new Hls()`.
    const hls = debug ? new H({ debug: true }) : new H();
    hls.on(H.Events.LEVEL_LOADED, (_e, data: { details: { fragments: Array<{ sn: number; start: number; duration: number }>; partList: Array<{ duration: number }> | null; edge: number; age: number; partTarget: number; partHoldBack: number }; stats: { loading: { start: number; end: number } } }) => {
      const d = data.details;
      if (state.log.length < 40) note(`playlist: frags ${d.fragments.map((f) => `${f.sn}@${f.start.toFixed(3)}+${f.duration.toFixed(3)}`).join(',')} parts ${d.partList?.length ?? 0} (longest ${Math.max(0, ...(d.partList ?? []).map((p) => p.duration)).toFixed(3)}) PART-TARGET ${d.partTarget} PART-HOLD-BACK ${d.partHoldBack} edge ${d.edge.toFixed(3)} age ${d.age?.toFixed?.(3)}`);
    });
    hls.on(H.Events.FRAG_BUFFERED, (_e, data: { frag: { sn: number; start: number }; part: { index: number; start: number; duration: number } | null }) => {
      if (state.log.length < 60) note(`buffered ${data.frag.sn}.${data.part ? data.part.index : 'all'} ${(data.part ?? data.frag).start.toFixed(3)}`);
    });
    hls.on(H.Events.FRAG_LOADING, (_e, data: { frag: { sn: number; start: number }; part: { index: number; start: number } | null }) => {
      if (state.log.length < 80) note(`loading ${data.frag.sn}.${data.part ? data.part.index : 'all'} @${(data.part ?? data.frag).start.toFixed(3)}`);
    });
    hls.on(H.Events.BUFFER_APPENDED, (_e, data: { type: string; timeRanges: Record<string, TimeRanges> }) => {
      if (state.log.length >= 80) return;
      const tr = Object.entries(data.timeRanges ?? {}).map(([k, r]) => `${k}:${Array.from({ length: r.length }, (_, i) => `${r.start(i).toFixed(3)}-${r.end(i).toFixed(3)}`).join(' ')}`);
      note(`appended ${data.type} ${tr.join(' | ')}`);
    });
    hls.on(H.Events.ERROR, (_e, data: { details: string; fatal: boolean }) => {
      if (data.details === 'bufferStalledError') state.stalls++;
      note(`error ${data.details}${data.fatal ? ' FATAL' : ''}`);
      if (state.errors.length < 30) state.errors.push(data.details);
      if (data.fatal) state.fatal = data.details;
    });
    video.addEventListener('playing', () => {
      note('playing');
      if (state.playingSince === null) state.playingSince = Date.now();
    });
    video.addEventListener('waiting', () => note('waiting'));
    video.addEventListener('seeking', () => note('seeking'));
    setInterval(() => {
      if (state.playingSince === null) return;
      const pd = hls.playingDate;
      const b = video.buffered;
      state.samples.push({
        t: (Date.now() - state.playingSince) / 1000,
        latencyMs: pd ? Date.now() - pd.getTime() : null,
        targetLatency: hls.targetLatency,
        bufferAhead: b.length ? b.end(b.length - 1) - video.currentTime : 0,
        edge: hls.latestLevelDetails?.edge ?? null,
        currentTime: video.currentTime,
        pdtAtEdge: (() => {
          const d = hls.latestLevelDetails;
          const f = d?.fragments.at(-1);
          return d && f?.programDateTime ? f.programDateTime + (d.edge - f.start) * 1000 : null;
        })(),
      });
    }, 250);
    hls.loadSource(src);
    hls.attachMedia(video);
    void video.play().catch(() => undefined);
  }, [src, debug] as const);
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : NaN;
};

test('stock hls.js (default config) on a /broadcast stream plays within 1.5 s of the live edge from its first second', async ({ browser, page }) => {
  await signInContext(page.context());
  const id = await goLiveFromBroadcast(page);

  // The viewer in its own context (its own renderer), as a separate person would be.
  const viewerContext = await browser.newContext();
  const viewer = await viewerContext.newPage();
  try {
    const logFile = process.env.STOCK_HLSJS_LOG;
    if (logFile) viewer.on('console', (m) => appendFileSync(logFile, `${new Date().toISOString().slice(11, 23)} ${m.text().slice(0, 300)}\n`));
    await openStockPlayer(viewer, `${ORIGIN}/hls/${id}/index.m3u8`, !!logFile);
    const read = (): Promise<PlayerState> => viewer.evaluate(() => (window as unknown as { player: PlayerState }).player);
    await expect.poll(async () => (await read()).playingSince !== null, { timeout: 30_000, message: 'hls.js starts playing' }).toBe(true);
    await expect.poll(async () => (await read()).samples.at(-1)?.t ?? 0, { timeout: (WINDOW_S + 15) * 1000, intervals: [1000] }).toBeGreaterThan(WINDOW_S + 1);
    const s = await read();
    if (logFile) appendFileSync(logFile, `${JSON.stringify({ id, ...s }, null, 1)}\n`);
    expect(s.fatal).toBeNull();

    const measured = s.samples.filter((x) => x.t >= 1 && x.t <= WINDOW_S + 1);
    const latencies = measured.map((x) => x.latencyMs).filter((x): x is number => x !== null);
    expect(latencies.length, 'samples with a playing date').toBeGreaterThan(measured.length * 0.9);
    // Rates over the window: media time of the live edge and of the playhead per wall second, and the edge's PDT per
    // wall second (1 = real time). Latency that grows without stalls shows here.
    const first = measured.find((x) => x.edge !== null);
    const last = measured.at(-1);
    const wall = first && last ? last.t - first.t : NaN;
    const rate = (a: number | null | undefined, b: number | null | undefined, k = 1) => (a != null && b != null ? Math.round(((b - a) / k / wall) * 1000) / 1000 : null);
    const summary = {
      edgeRate: rate(first?.edge, last?.edge),
      playheadRate: rate(first?.currentTime, last?.currentTime),
      pdtEdgeRate: rate(first?.pdtAtEdge, last?.pdtAtEdge, 1000),
      medianMs: median(latencies),
      firstSecondsMs: median(latencies.slice(0, 8)),
      lastSecondsMs: median(latencies.slice(-20)),
      stalls: s.stalls,
      targetLatency: measured.at(-1)?.targetLatency,
      bufferAhead: median(measured.map((x) => x.bufferAhead)),
    };
    test.info().annotations.push({ type: 'stock hls.js', description: JSON.stringify(summary) });
    console.log(`stock hls.js: ${JSON.stringify(summary)}`);
    // Close to the live edge over the window, from its first seconds and still at the end (not a drift back).
    expect(summary.medianMs, JSON.stringify(summary)).toBeLessThanOrEqual(1500);
    expect(summary.firstSecondsMs, JSON.stringify(summary)).toBeLessThanOrEqual(1500);
    expect(summary.lastSecondsMs, JSON.stringify(summary)).toBeLessThanOrEqual(1500);
  } finally {
    await viewerContext.close();
    await page.getByTestId('stop').click().catch(() => undefined);
  }
});
