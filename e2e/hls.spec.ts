import { createRequire } from 'node:module';
import { expect, test } from '@playwright/test';
import { createStream, publish, waitLive } from './support';

const require = createRequire(import.meta.url);

test('hls.js plays the LL-HLS stream in low-latency mode and loads parts', async ({ page, request }) => {
  const { id, key } = await createStream(request, 'hls e2e');
  const pub = publish(key);
  try {
    await waitLive(request, id);
    await page.goto('/');
    await page.addScriptTag({ path: require.resolve('hls.js/dist/hls.min.js') });
    await page.evaluate((src) => {
      type HlsLike = { on(ev: string, fn: (...a: never[]) => void): void; loadSource(u: string): void; attachMedia(v: HTMLVideoElement): void };
      const w = window as unknown as { Hls: { new (c: object): HlsLike; Events: Record<string, string> }; stats: unknown };
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.id = 'v';
      document.body.appendChild(video);
      const stats = { parts: 0, fatal: null as string | null, errors: [] as string[] };
      w.stats = stats;
      const hls = new w.Hls({ lowLatencyMode: true });
      hls.on(w.Hls.Events.FRAG_LOADED, (_: unknown, data: { part?: unknown }) => {
        if (data.part) stats.parts++;
      });
      hls.on(w.Hls.Events.ERROR, (_: unknown, data: { fatal: boolean; details: string }) => {
        stats.errors.push(data.details);
        if (data.fatal) stats.fatal = data.details;
      });
      hls.loadSource(src);
      hls.attachMedia(video);
      void video.play().catch(() => undefined);
      (window as unknown as { hls: unknown }).hls = hls;
    }, `/hls/${id}/index.m3u8`);

    await expect.poll(() => page.evaluate(() => (document.getElementById('v') as HTMLVideoElement).currentTime), { timeout: 20000 }).toBeGreaterThan(1);
    const t1 = await page.evaluate(() => (document.getElementById('v') as HTMLVideoElement).currentTime);
    // Playback keeps going: another second of video within a few (a busy CI machine may stall hls.js once).
    await expect.poll(() => page.evaluate(() => (document.getElementById('v') as HTMLVideoElement).currentTime), { timeout: 10000 }).toBeGreaterThan(t1 + 1);
    const state = await page.evaluate(() => {
      const v = document.getElementById('v') as HTMLVideoElement;
      const w = window as unknown as { stats: { parts: number; fatal: string | null }; hls: { latency: number; lowLatencyMode: boolean } };
      return { t: v.currentTime, width: v.videoWidth, height: v.videoHeight, parts: w.stats.parts, fatal: w.stats.fatal, latency: w.hls.latency, ll: w.hls.lowLatencyMode };
    });
    expect(state.fatal).toBeNull();
    expect(state.t - t1).toBeGreaterThan(1);
    expect(state.width).toBe(320);
    expect(state.height).toBe(240);
    expect(state.ll).toBe(true);
    expect(state.parts).toBeGreaterThan(3);
    expect(state.latency).toBeLessThan(5);
  } finally {
    await pub.stop();
  }
});
