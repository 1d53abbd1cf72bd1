/**
 * Replay and rewind on /watch against the real server (RECORD on): a browser broadcast replayed after Stop; an
 * ffmpeg broadcast whose picture is a clock (the second since the start as six white blocks, one per bit), so that
 * what a seek shows can be read off the frame: rewinding while live, back to live, seeking in the replay; links to
 * recordings that do not exist or are not ids.
 */
import { expect, test, type Page } from '@playwright/test';
import { createStream, publish, signInContext, waitLive } from './support';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

interface Rec {
  id: string;
  state: string;
  durationSeconds: number;
}

const BITS = 6;
/** Bit k of floor(t) as a 40x40 white block at x = 10 + 50k on black. */
const CLOCK_VIDEO =
  'color=c=black:size=320x240:rate=25,' +
  Array.from({ length: BITS }, (_, k) => `drawbox=x=${10 + 50 * k}:y=100:w=40:h=40:color=white:t=fill:enable='eq(mod(floor(t/${2 ** k}),2),1)'`).join(',');

/** The second on the frame on screen (the blocks read back from the <video>, drawn at 320x240). */
function readClock(page: Page): Promise<number> {
  return page.getByTestId('video').evaluate((v: HTMLVideoElement, bits: number) => {
    const c = document.createElement('canvas');
    c.width = 320;
    c.height = 240;
    const g = c.getContext('2d', { willReadFrequently: true });
    if (!g || !v.videoWidth) return -1;
    g.drawImage(v, 0, 0, 320, 240);
    let n = 0;
    for (let k = 0; k < bits; k++) {
      const [r, gr, b] = g.getImageData(30 + 50 * k, 120, 1, 1).data;
      if ((r + gr + b) / 3 > 128) n |= 1 << k;
    }
    return n;
  }, BITS);
}

const videoState = (page: Page) =>
  page.getByTestId('video').evaluate((v: HTMLVideoElement) => ({ t: v.currentTime, d: v.duration, paused: v.paused, controls: v.controls }));

/** Pause and seek the <video> to `t`, until it says it got there. */
async function seekTo(page: Page, t: number): Promise<void> {
  await page.getByTestId('video').evaluate(
    (v: HTMLVideoElement, to: number) =>
      new Promise<void>((resolve) => {
        v.pause();
        v.addEventListener('seeked', () => resolve(), { once: true });
        v.currentTime = to;
      }),
    t,
  );
}

async function recordings(page: Page, id: string): Promise<Rec[]> {
  const res = await page.request.get(`/api/streams/${id}/recordings`);
  expect(res.status()).toBe(200);
  return ((await res.json()) as { recordings: Rec[] }).recordings;
}

let clockRec: { streamId: string; rid: string } | null = null;

test('a broadcast from /broadcast replays after Stop: a banner, no latency readout, a seek bar, its whole length', async ({ browser }) => {
  const context = await browser.newContext();
  await context.grantPermissions(['camera', 'microphone']);
  await signInContext(context);
  try {
    const broadcaster = await context.newPage();
    await broadcaster.goto('/broadcast');
    await broadcaster.evaluate(() => localStorage.removeItem('golive.stream'));
    await broadcaster.reload();
    await expect(broadcaster.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
    await broadcaster.getByTestId('go-live').click();
    await expect(broadcaster.getByTestId('status')).toHaveText('live', { timeout: 45_000 });
    const started = Date.now();
    const id = await broadcaster.evaluate(() => (window as unknown as { __golive: { state(): { streamId: string } } }).__golive.state().streamId);

    const viewer = await context.newPage();
    const pageErrors: string[] = [];
    viewer.on('pageerror', (e) => pageErrors.push(e.message));
    await viewer.goto(`/watch/${id}`);
    await expect(viewer.getByTestId('phase')).toHaveText('Live', { timeout: 20_000 });
    await expect(viewer.getByTestId('latency')).toHaveText(/s behind live$/, { timeout: 20_000 });
    await viewer.waitForTimeout(Math.max(0, 10_000 - (Date.now() - started)));
    await broadcaster.bringToFront();
    await broadcaster.getByTestId('stop').click();
    await expect(broadcaster.getByTestId('status')).toHaveText(/ended/i, { timeout: 15_000 });
    const length = (Date.now() - started) / 1000;

    await viewer.bringToFront();
    const banner = viewer.getByTestId('replay-banner');
    await expect(banner).toContainText(/The broadcast ended at .+; replaying/, { timeout: 30_000 });
    await expect(viewer.getByTestId('phase')).toHaveText('Replay');
    await expect(viewer.getByTestId('latency')).toHaveCount(0);
    // No live audience after the end: no "N watching".
    await expect(viewer.getByTestId('viewers')).toHaveCount(0);
    // Plays, with the native controls (a seek bar) and not the live overlay.
    await expect.poll(async () => (await videoState(viewer)).t, { timeout: 20_000 }).toBeGreaterThan(1);
    const a = await videoState(viewer);
    await viewer.waitForTimeout(1500);
    const b = await videoState(viewer);
    expect(b.t).toBeGreaterThan(a.t + 0.5);
    expect(b.controls).toBe(true);
    await expect(viewer.getByTestId('jump-live')).toHaveCount(0);
    // Its length is the broadcast's (the recording starts at the first keyframe segment, ends at the last one).
    const [rec] = await recordings(viewer, id);
    expect(rec.state).toBe('ended');
    expect(Math.abs(b.d - rec.durationSeconds)).toBeLessThan(1);
    expect(rec.durationSeconds).toBeGreaterThan(length - 4);
    expect(rec.durationSeconds).toBeLessThan(length + 1);
    // Listed under the player, marked as the one playing.
    const item = viewer.getByTestId('recording-item');
    await expect(item).toHaveCount(1);
    await expect(item).toHaveAttribute('aria-current', 'true');
    // The banner is a card of its own, not text over the picture.
    expect(await banner.evaluate((el) => getComputedStyle(el).backgroundColor)).not.toBe('rgba(0, 0, 0, 0)');
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
});

test('rewind while live shows the broadcast so far, back to live returns to LL-HLS; seeking the replay shows that moment', async ({ page, request }) => {
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const { id, key } = await createStream(request, 'Clock');
  const pub = publish(key, { video: CLOCK_VIDEO });
  const published = Date.now();
  try {
    await waitLive(request, id);
    await page.goto(`/watch/${id}`);
    await expect(page.getByTestId('phase')).toHaveText('Live', { timeout: 20_000 });
    await expect(page.getByTestId('latency')).toHaveText(/s behind live$/, { timeout: 20_000 });
    // The recording in progress is offered (the list is asked every 10 s while live).
    await expect(page.getByTestId('rewind')).toBeVisible({ timeout: 25_000 });
    await page.waitForTimeout(Math.max(0, 14_000 - (Date.now() - published)));
    const liveClock = await readClock(page);
    expect(liveClock).toBeGreaterThan(8);

    await page.getByTestId('rewind').click();
    await expect(page.getByTestId('phase')).toHaveText('Rewind');
    await expect(page.getByTestId('replay-banner')).toContainText('Rewound');
    await expect(page.getByTestId('latency')).toHaveCount(0);
    // Still live: its audience is said to be the live one.
    await expect(page.getByTestId('viewers')).toHaveText(/^\d+ watching live$/);
    // Under 30 s in: from the start, and playing.
    await expect.poll(async () => (await videoState(page)).t, { timeout: 20_000 }).toBeGreaterThan(0.5);
    const r = await videoState(page);
    expect(r.t).toBeLessThan(6);
    expect(r.controls).toBe(true);
    // The frame is of that moment: the clock reads the playhead's second, far behind the live one.
    await seekTo(page, 4.5);
    await expect.poll(() => readClock(page), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    const rewound = await readClock(page);
    expect(rewound).toBeLessThanOrEqual(6);

    await page.getByTestId('back-to-live').click();
    await expect(page.getByTestId('phase')).toHaveText('Live');
    await expect(page.getByTestId('latency')).toHaveText(/^\d+\.\d s behind live$/, { timeout: 20_000 });
    await expect(page.getByTestId('replay-banner')).toHaveCount(0);
    const elapsed = (Date.now() - published) / 1000;
    await expect.poll(() => readClock(page), { timeout: 10_000 }).toBeGreaterThan(elapsed - 6);
    await page.waitForTimeout(3000);
  } finally {
    await pub.stop();
  }
  // Ended (after the grace period): the replay of that broadcast.
  await expect(page.getByTestId('replay-banner')).toContainText(/The broadcast ended at .+; replaying/, { timeout: 40_000 });
  await expect(page.getByTestId('phase')).toHaveText('Replay');
  await expect(page.getByTestId('latency')).toHaveCount(0);
  const [rec] = await recordings(page, id);
  expect(rec.state).toBe('ended');
  await expect.poll(async () => (await videoState(page)).d, { timeout: 20_000 }).toBeGreaterThan(rec.durationSeconds - 1);
  // Seek: each frame shows its own second (the clock's start is the recording's start, give or take a keyframe).
  await seekTo(page, 3.5);
  await expect.poll(() => readClock(page), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
  const at3 = await readClock(page);
  expect(at3).toBeLessThanOrEqual(5);
  const mid = Math.floor(rec.durationSeconds / 2) + 0.5;
  await seekTo(page, mid);
  await expect.poll(() => readClock(page), { timeout: 10_000 }).toBe(at3 + Math.floor(mid) - 3);
  await seekTo(page, 1.5);
  await expect.poll(() => readClock(page), { timeout: 10_000 }).toBe(at3 - 2);
  expect(pageErrors).toEqual([]);
  clockRec = { streamId: id, rid: rec.id };
});

test('?recording=<rid> opens that recording; unknown, foreign and garbage ids say so and break nothing', async ({ page, request }) => {
  expect(clockRec, 'the test before recorded a broadcast').not.toBeNull();
  const { streamId, rid } = clockRec as { streamId: string; rid: string };
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  // Opened on a stream that is not live: its latest broadcast replays by itself.
  await page.goto(`/watch/${streamId}`);
  await expect(page.getByTestId('replay-banner')).toContainText(/The broadcast ended at .+; replaying/);
  await expect(page.getByTestId('phase')).toHaveText('Replay');
  await expect(page.getByTestId('latency')).toHaveCount(0);
  await expect(page.getByTestId('stage-message')).toHaveCount(0);
  await expect(page.locator(`[data-testid="recording-item"][data-rid="${rid}"]`)).toHaveAttribute('aria-current', 'true');
  await expect.poll(async () => (await videoState(page)).t, { timeout: 20_000 }).toBeGreaterThan(0.5);
  // Picking it in the list plays it from its start, and the address says which (a link to share).
  await expect(page).toHaveURL(new RegExp(`/watch/${streamId}$`));
  await seekTo(page, 9.5);
  await page.locator(`[data-testid="recording-item"][data-rid="${rid}"]`).click();
  await expect(page).toHaveURL(new RegExp(`/watch/${streamId}\\?recording=${rid}$`));
  await expect.poll(async () => (await videoState(page)).t, { timeout: 20_000 }).toBeGreaterThan(0.3);
  expect((await videoState(page)).t).toBeLessThan(5);
  expect(await readClock(page)).toBeLessThan(6);

  await page.goto(`/watch/${streamId}?recording=${rid}`);
  await expect(page.getByTestId('replay-banner')).toContainText('replaying');
  await expect(page.locator(`[data-testid="recording-item"][data-rid="${rid}"]`)).toHaveAttribute('aria-current', 'true');
  await expect.poll(async () => (await videoState(page)).t, { timeout: 20_000 }).toBeGreaterThan(0.5);
  await expect.poll(() => readClock(page), { timeout: 10_000 }).toBeLessThanOrEqual(3);

  // Another stream with no recordings: the rid is unknown there, and elsewhere the recording is someone else's.
  const other = await createStream(request, 'Nothing recorded');
  await page.goto(`/watch/${other.id}?recording=0123456789abcdef`);
  await expect(page.getByTestId('replay-error')).toContainText('does not exist');
  await expect(page.getByTestId('recordings')).toContainText('No recordings of this stream yet');
  await expect(page.getByTestId('phase')).toHaveText('Offline');
  await page.goto(`/watch/${other.id}?recording=${rid}`);
  await expect(page.getByTestId('replay-error')).toContainText('another stream');
  await expect(page.getByTestId('replay-banner')).toHaveCount(0);

  for (const garbage of ['x'.repeat(5000), '%3Cscript%3Ealert(1)%3C%2Fscript%3E', '..%2F..%2Fgolive.db', '%00', `${rid}&recording=${rid}`, rid.toUpperCase()]) {
    await page.goto(`/watch/${other.id}?recording=${garbage}`);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Nothing recorded');
    await expect(page.getByTestId('replay-error')).toContainText(/not valid|does not exist|another stream/);
  }
  // The API answers such ids with 404 and bad list queries with 400 (server/record/limits.integration.test.ts has more).
  for (const bad of ['x'.repeat(5000), '0123456789abcdef', '%3Cscript%3E']) expect((await request.get(`/api/recordings/${bad}`)).status()).toBe(404);
  expect((await request.get(`/api/streams/${streamId}/recordings?limit=abc`)).status()).toBe(400);
  expect((await request.get(`/api/streams/${streamId}/recordings?cursor=garbage`)).status()).toBe(400);
  expect(pageErrors).toEqual([]);
});
