import { expect, test, type Page } from '@playwright/test';
import { createStream, publish, waitLive } from './support';

test.describe.configure({ mode: 'serial' });

const videoState = (page: Page) =>
  page.getByTestId('video').evaluate((v: HTMLVideoElement) => ({ t: v.currentTime, w: v.videoWidth, h: v.videoHeight, src: v.src }));

/** currentTime advances by more than 0.5 s in 1.5 s, at the publisher's size. */
async function expectPlaying(page: Page) {
  await expect.poll(async () => (await videoState(page)).t, { timeout: 20000 }).toBeGreaterThan(0.5);
  const a = await videoState(page);
  await page.waitForTimeout(1500);
  const b = await videoState(page);
  expect(b.t).toBeGreaterThan(a.t + 0.5);
  expect([b.w, b.h]).toEqual([640, 360]);
}

/** The /realtime sockets the page opens, and how each closed. */
function watchSockets(page: Page) {
  const sockets: Array<{ url: string; frames: number; closed: boolean }> = [];
  page.on('websocket', (ws) => {
    if (!ws.url().includes('/realtime/')) return;
    const s = { url: ws.url(), frames: 0, closed: false };
    sockets.push(s);
    ws.on('framereceived', () => s.frames++);
    ws.on('close', () => (s.closed = true));
  });
  return sockets;
}

const FPS = 25;

/** Frames the decoder got (getVideoPlaybackQuality) per second of media played, over `ms`. */
async function decodedPerMediaSecond(page: Page, ms: number): Promise<number> {
  const q = () => page.getByTestId('video').evaluate((v: HTMLVideoElement) => ({ t: v.currentTime, n: v.getVideoPlaybackQuality().totalVideoFrames }));
  const a = await q();
  await page.waitForTimeout(ms);
  const b = await q();
  return (b.n - a.n) / (b.t - a.t);
}

let stream: { id: string; key: string };
let pub: ReturnType<typeof publish>;

test.beforeAll(async ({ request }) => {
  stream = await createStream(request, 'Realtime test');
  // Frame times uneven as a browser publisher's are (MediaRecorder's: here ~20-60 ms apart, 25 fps on average), not
  // ffmpeg's steady 40 ms: the realtime fragments' durations must still be exact (server/realtime/encoder.ts). In ms,
  // so that no two frames share a time (and none is dropped for it).
  pub = publish(stream.key, {
    video: `testsrc=size=640x360:rate=${FPS},settb=1/1000,setpts=(N+0.6*random(0))/(${FPS}*TB)`,
    videoArgs: ['-fps_mode', 'passthrough', '-enc_time_base:v', '1:1000'],
  });
  await waitLive(request, stream.id);
});
test.afterAll(async () => {
  await pub?.stop();
});

test('by default /watch plays realtime: the WebSocket into MSE, picture at size, under 1 s behind live', async ({ page, request }) => {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  const hlsRequests: string[] = [];
  page.on('request', (r) => r.url().includes('/hls/') && hlsRequests.push(r.url()));
  const sockets = watchSockets(page);
  await page.goto(`/watch/${stream.id}`);
  await expect(page.getByTestId('mode')).toHaveText('Realtime');
  await expectPlaying(page);
  expect((await videoState(page)).src).toMatch(/^blob:/);
  // Every frame reaches the decoder (durations that overlap the next frame lost ~1 in 3 in MSE: 14 of 24 fps).
  const fps = await decodedPerMediaSecond(page, 2500);
  test.info().annotations.push({ type: 'realtime frames decoded per media second', description: fps.toFixed(1) });
  expect(fps).toBeGreaterThan(FPS * 0.85);
  expect(sockets.length).toBe(1);
  expect(sockets[0].frames).toBeGreaterThan(20);
  expect(hlsRequests).toEqual([]);
  // The clock messages give the latency readout; on loopback it settles well under a second.
  await expect(page.getByTestId('latency')).toHaveText(/^\d+\.\d s behind live$/, { timeout: 10000 });
  await expect
    .poll(async () => parseFloat((await page.getByTestId('latency').textContent()) ?? 'NaN'), { timeout: 15000, intervals: [500] })
    .toBeLessThan(1);
  test.info().annotations.push({ type: 'realtime latency readout', description: (await page.getByTestId('latency').textContent()) ?? '' });
  // The buffer stays small: the playhead is near the newest buffered frame.
  const ahead = await page.getByTestId('video').evaluate((v: HTMLVideoElement) => v.buffered.end(v.buffered.length - 1) - v.currentTime);
  expect(ahead).toBeLessThan(1.5);
  // The realtime viewer counts (the only viewer: no HLS request was made).
  expect(((await (await request.get(`/api/watch/${stream.id}`)).json()) as { viewers: number }).viewers).toBe(1);
  await expect(page.getByTestId('viewers')).toHaveText('1 watching');
  expect(errors).toEqual([]);
});

test('the WebSocket refused (closed by a route): falls back to LL-HLS and plays', async ({ page }) => {
  let attempts = 0;
  await page.routeWebSocket(/\/realtime\//, (ws) => {
    attempts++;
    ws.close({ code: 4429, reason: 'too many' });
  });
  await page.goto(`/watch/${stream.id}`);
  await expect(page.getByTestId('mode')).toHaveText('Standard', { timeout: 15000 });
  await expectPlaying(page);
  expect(attempts).toBe(1);
});

test('a hostile realtime server (garbage, a fake init, huge text): the page falls back to LL-HLS and plays', async ({ page }) => {
  await page.routeWebSocket(/\/realtime\//, (ws) => {
    ws.send(Buffer.from('not mp4 at all'));
    ws.send('x'.repeat(2_000_000));
    ws.send('{"clock":{"mediaMs":"soon"}}');
    const fake = Buffer.alloc(64, 0xff);
    fake.writeUInt32BE(64, 0);
    fake.write('ftyp', 4);
    ws.send(fake); // an "init segment" with no moov: unreadable
  });
  await page.goto(`/watch/${stream.id}`);
  await expect(page.getByTestId('mode')).toHaveText('Standard', { timeout: 15000 });
  await expectPlaying(page);
});

test('a realtime socket that says nothing: LL-HLS after a few seconds', async ({ page }) => {
  await page.routeWebSocket(/\/realtime\//, () => undefined);
  await page.goto(`/watch/${stream.id}`);
  await expect(page.getByTestId('mode')).toHaveText('Realtime');
  await expect(page.getByTestId('mode')).toHaveText('Standard', { timeout: 15000 });
  await expectPlaying(page);
});

test('the server restarting (close 1012): the realtime player reconnects and plays on in realtime', async ({ page }) => {
  let connections = 0;
  await page.routeWebSocket(/\/realtime\//, (ws) => {
    const n = ++connections;
    const server = ws.connectToServer(); // messages pass through both ways
    if (n === 1) {
      setTimeout(() => {
        ws.close({ code: 1012, reason: 'server restarting' });
        server.close();
      }, 4000);
    }
  });
  await page.goto(`/watch/${stream.id}?mode=realtime`);
  await expect(page.getByTestId('mode')).toHaveText('Realtime');
  await expectPlaying(page);
  await expect.poll(() => connections, { timeout: 15000 }).toBe(2);
  await expectPlaying(page);
  await expect(page.getByTestId('mode')).toHaveText('Realtime');
  expect((await videoState(page)).src).toMatch(/^blob:/);
});

test('?mode=hls forces LL-HLS; the switch goes to Realtime and back', async ({ page }) => {
  const sockets = watchSockets(page);
  await page.goto(`/watch/${stream.id}?mode=hls`);
  await expect(page.getByTestId('mode')).toHaveText('Standard');
  await expectPlaying(page);
  expect(sockets).toEqual([]);
  await expect(page.getByTestId('latency')).toHaveText(/^\d+\.\d s behind live$/, { timeout: 10000 });
  test.info().annotations.push({ type: 'LL-HLS latency readout', description: (await page.getByTestId('latency').textContent()) ?? '' });

  await page.getByTestId('mode-realtime').click();
  await expect(page.getByTestId('mode')).toHaveText('Realtime');
  await expect(page).toHaveURL(/\?mode=realtime$/);
  await expectPlaying(page);
  await page.waitForTimeout(3000);
  test.info().annotations.push({ type: 'realtime latency readout (after the switch)', description: (await page.getByTestId('latency').textContent()) ?? '' });
  expect(sockets.length).toBe(1);
  expect((await videoState(page)).src).toMatch(/^blob:/);

  await page.getByTestId('mode-hls').click();
  await expect(page.getByTestId('mode')).toHaveText('Standard');
  await expect(page).toHaveURL(/\?mode=hls$/);
  await expect.poll(() => sockets[0].closed).toBe(true);
  await expectPlaying(page);
});

test('the broadcaster stops: the realtime player ends and the page shows "ended"', async ({ page }) => {
  const sockets = watchSockets(page);
  await page.goto(`/watch/${stream.id}?mode=realtime`);
  await expect(page.getByTestId('mode')).toHaveText('Realtime');
  await expectPlaying(page);
  await pub.stop();
  // Ended (recorded streams go on to their replay, e2e/replay.spec.ts: the badge says Ended until then).
  await expect(page.getByTestId('phase')).toHaveText(/^(Ended|Replay)$/, { timeout: 30000 });
  await expect(page.getByTestId('stage-message').or(page.getByTestId('replay-banner'))).toContainText(/The stream has ended|The broadcast ended at/, { timeout: 10000 });
  await expect(page.getByTestId('mode')).toHaveCount(0);
  expect(sockets.length).toBe(1);
  await expect.poll(() => sockets[0].closed).toBe(true);
});
