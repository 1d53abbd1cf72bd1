/**
 * The MP4 download in a real browser (Chromium, found as the e2e tests find it): a plain <video src> of a recording
 * knows its whole duration from the first bytes (mehd/sidx), seeks to the middle (Range requests) and plays from there.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from '@playwright/test';
import { publishTestStream, startTestServer, waitFor, type TestServer } from '../testing/harness';

function chromiumPath(): string | undefined {
  try {
    const own = chromium.executablePath();
    if (own && existsSync(own)) return undefined;
  } catch {
    /* not installed */
  }
  return process.env.CHROMIUM_PATH || '/usr/bin/chromium';
}

describe('recording download in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let mp4 = '';
  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '0' });
    const s = await server.createStream('browser');
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 10, speed: 4 });
    assert.equal(await pub.exited, 0, pub.stderr());
    const rec = await waitFor('recording ended', async () => {
      const l = ((await (await fetch(`${server.http}/api/streams/${s.id}/recordings`)).json()) as { recordings: Array<{ state: string; urls: { mp4: string } }> }).recordings;
      return l[0]?.state === 'ended' ? l[0] : null;
    }, 20000);
    mp4 = rec.urls.mp4;
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--autoplay-policy=no-user-gesture-required'] });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('<video src> knows the duration at once, plays, and seeks to the middle', async () => {
    const page = await browser.newPage();
    try {
      // The page comes from the server's own origin (its 404 JSON), so the media request is same-origin.
      await page.goto(`${server.http}/api/nothing-here`);
      // As a string: the test's compiler would wrap a function's inner functions in a helper the page lacks.
      const result = (await page.evaluate(`(async (src) => {
        const v = document.createElement('video');
        v.muted = true;
        v.preload = 'auto';
        document.body.append(v);
        const once = (ev) => new Promise((resolve, reject) => {
          v.addEventListener(ev, () => resolve(), { once: true });
          v.addEventListener('error', () => reject(new Error("media error " + (v.error && v.error.code) + " " + (v.error && v.error.message))), { once: true });
        });
        const meta = once('loadedmetadata');
        v.src = src;
        await meta;
        const duration = v.duration;
        const seeked = once('seeked');
        v.currentTime = 5.5;
        await seeked;
        const at = v.currentTime;
        const playing = once('timeupdate');
        await v.play();
        await playing;
        return { duration, at, width: v.videoWidth, ready: v.readyState };
      })(${JSON.stringify(mp4)})`)) as { duration: number; at: number; width: number; ready: number };
      assert.ok(Math.abs(result.duration - 10) <= 1.05, `duration ${result.duration}`);
      assert.ok(Math.abs(result.at - 5.5) < 0.1, `seeked to ${result.at}`);
      assert.equal(result.width, 320);
      assert.ok(result.ready >= 2);
    } finally {
      await page.close();
    }
  });
});
