import { expect, test, type Page } from '@playwright/test';
import { createStream, publish, signInContext, waitLive } from './support';

test.describe.configure({ mode: 'serial' });

const videoState = (page: Page) =>
  page.getByTestId('video').evaluate((v: HTMLVideoElement) => ({ t: v.currentTime, w: v.videoWidth, h: v.videoHeight, paused: v.paused }));

test('a viewer opened before the broadcast waits, starts by itself, shows latency and viewers, then "ended"', async ({ page, request }) => {
  const errors: Array<{ text: string; url: string }> = [];
  page.on('console', (m) => m.type() === 'error' && errors.push({ text: m.text(), url: m.location().url }));
  // Every part request the page makes, by who made it: hls.js (XHR) or the preload-hint prefetch (fetch).
  const partRequests: Array<{ url: string; by: string }> = [];
  const pings: string[] = [];
  page.on('request', (r) => {
    if (/\/hls\/[^/]+\/ping$/.test(new URL(r.url()).pathname)) pings.push(r.url());
    if (/\/hls\/[^/]+\/[^/]+-part\d+\.\d+\.m4s$/.test(new URL(r.url()).pathname)) partRequests.push({ url: r.url(), by: r.resourceType() });
  });
  const { id, key } = await createStream(request, 'Watch test');
  // LL-HLS forced (the default is realtime, e2e/realtime.spec.ts): this test is about the HLS player's part fetching.
  await page.goto(`/watch/${id}?mode=hls`);
  await expect(page.getByTestId('stage-message')).toContainText('Waiting for the broadcaster');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Watch test');
  await expect(page.getByTestId('phase')).toHaveText('Offline');

  const pub = publish(key, { size: '640x360' });
  try {
    await waitLive(request, id);
    await expect(page.getByTestId('phase')).toHaveText('Live', { timeout: 15000 });
    await expect.poll(async () => (await videoState(page)).t, { timeout: 20000 }).toBeGreaterThan(1);
    const a = await videoState(page);
    await page.waitForTimeout(1500);
    const b = await videoState(page);
    expect(b.t).toBeGreaterThan(a.t + 0.5);
    expect(b.w).toBe(640);
    expect(b.h).toBe(360);
    // The player fetches each hinted part ahead (fetch) and hls.js takes it from there: at the live edge the parts
    // come that way (on a loaded machine hls.js may load one a playlist lists before its hint was seen, itself), and no
    // part goes over the network twice (hls.js's own XHRs load the parts the first playlists list).
    const byFetch = new Set(partRequests.filter((r) => r.by === 'fetch').map((r) => r.url));
    const byXhr = partRequests.filter((r) => r.by === 'xhr').map((r) => r.url);
    expect(byFetch.size).toBeGreaterThan(5);
    const recent = partRequests.slice(-8).map((r) => r.by);
    expect(recent.filter((by) => by === 'fetch').length, recent.join(' ')).toBeGreaterThanOrEqual(6);
    expect(byXhr.filter((u) => byFetch.has(u))).toEqual([]);
    expect(partRequests.length).toBe(byFetch.size + byXhr.length);
    await expect(page.getByTestId('latency')).toHaveText(/^\d+\.\d s behind live$/, { timeout: 10000 });
    await expect(page.getByTestId('viewers')).toHaveText(/^[1-9]\d* watching$/, { timeout: 10000 });
    // The viewer beacon (counted behind an HTTP cache too): one session id for the player.
    expect(pings.length).toBeGreaterThan(0);
    expect(new Set(pings.map((u) => new URL(u).searchParams.get('sid'))).size).toBe(1);
    await expect(page.getByTestId('unmute')).toBeVisible();
    await page.getByTestId('unmute').click();
    await expect(page.getByTestId('unmute')).toHaveAttribute('aria-pressed', 'true');
    // The RTMP pull address is offered.
    await expect(page.getByText(`ffplay rtmp://`)).toBeVisible();
  } finally {
    await pub.stop();
  }
  // The publisher is gone: reconnecting during the grace period, then ended.
  // (Recorded: the page goes on to replay it, e2e/replay.spec.ts; the badge says Ended until then.)
  await expect(page.getByTestId('phase')).toHaveText(/^(Ended|Replay)$/, { timeout: 20000 });
  await expect(page.getByTestId('stage-message').or(page.getByTestId('replay-banner'))).toContainText(/The stream has ended|The broadcast ended at/, { timeout: 10000 });
  await expect(page.getByTestId('latency')).toHaveCount(0);
  // The one error allowed: the part hinted last never came (the stream ended), so the server answered its held
  // prefetch 404, which the browser logs.
  const lastHinted = partRequests.filter((r) => r.by === 'fetch').at(-1)?.url;
  expect(errors.filter((e) => !(e.text.includes('404') && e.url === lastHinted))).toEqual([]);
});

test('the directory lists a live stream and drops it when it ends, without a reload', async ({ page, request }) => {
  const { id, key } = await createStream(request, 'Directory test');
  await page.goto('/');
  await expect(page.getByTestId('live-empty')).toBeVisible();
  const pub = publish(key);
  try {
    await waitLive(request, id);
    const card = page.getByTestId('live-card').filter({ hasText: 'Directory test' });
    await expect(card).toBeVisible({ timeout: 10000 });
    await expect(card).toContainText('watching');
    // The card shows a recent frame of the stream (a JPEG made on the server from the newest keyframe).
    const shot = card.getByTestId('live-snapshot');
    // (A stream seconds old may have no keyframe part yet: the placeholder shows until the next 10 s.)
    await expect
      .poll(() => shot.evaluate((img: HTMLImageElement) => (img.complete ? img.naturalWidth : 0), undefined, { timeout: 1000 }).catch(() => 0), { timeout: 25000 })
      .toBeGreaterThan(0);
    await expect(shot).toHaveAttribute('alt', 'Snapshot of Directory test');
    expect(await shot.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(480);
    await card.click();
    await expect(page).toHaveURL(new RegExp(`/watch/${id}$`));
    await page.goto('/');
    await expect(card).toBeVisible();
  } finally {
    await pub.stop();
  }
  await expect(page.getByTestId('live-card').filter({ hasText: 'Directory test' })).toHaveCount(0, { timeout: 20000 });
  await expect(page.getByTestId('live-empty')).toBeVisible();
});

test('broadcaster and viewer in one browser: 1280x720 plays with a latency readout, and "ended" follows Stop', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['camera', 'microphone']);
  await signInContext(context);
  const broadcaster = await context.newPage();
  try {
    await broadcaster.goto('/broadcast');
    await broadcaster.evaluate(() => localStorage.removeItem('golive.stream'));
    await broadcaster.reload();
    await broadcaster.getByTestId('go-live').click();
    await expect(broadcaster.getByTestId('status')).toHaveText(/live/i, { timeout: 30000 });
    const id = await broadcaster.evaluate(() => (window as unknown as { __golive: { state(): { streamId: string } } }).__golive.state().streamId);
    expect(id).toMatch(/^[a-z0-9]+$/);

    const viewer = await context.newPage();
    await viewer.goto(`/watch/${id}`);
    await expect(viewer.getByTestId('phase')).toHaveText('Live', { timeout: 20000 });
    await expect.poll(async () => (await videoState(viewer)).t, { timeout: 30000 }).toBeGreaterThan(1);
    const a = await videoState(viewer);
    await viewer.waitForTimeout(1500);
    const b = await videoState(viewer);
    expect(b.t).toBeGreaterThan(a.t + 0.5);
    expect(b.w).toBe(1280);
    expect(b.h).toBe(720);
    await expect(viewer.getByTestId('latency')).toHaveText(/^\d+\.\d s behind live$/, { timeout: 10000 });
    await expect(viewer.getByTestId('viewers')).toHaveText(/^[1-9]\d* watching$/, { timeout: 10000 });

    await broadcaster.bringToFront();
    await broadcaster.getByTestId('stop').click();
    await expect(broadcaster.getByTestId('status')).toHaveText(/ended/i, { timeout: 15000 });
    await expect(viewer.getByTestId('phase')).toHaveText(/^(Ended|Replay)$/, { timeout: 15000 });
  } finally {
    await context.close();
  }
});
