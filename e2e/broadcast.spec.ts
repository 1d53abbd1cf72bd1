/**
 * /broadcast against the real server: Chromium's fake camera → MediaRecorder → WebSocket /ingest → ffmpeg → our RTMP relay.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { E2E_RTMP_PORT } from '../playwright.config';
import { RTMP_BASE, createStream, signInContext } from './support';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

interface GoliveHooks {
  dropConnection(): void;
  sendGarbageFirst: boolean;
  state(): { status: string; streamId: string | null; reconnects: number; error: string | null };
}
type HookWindow = Window & { __golive: GoliveHooks; __statusLog?: string[] };

interface ProbeStream {
  codec_name?: string;
  width?: number;
  height?: number;
}

/** The ingest ffmpeg of a browser broadcast: reads stdin, pushes to our relay. */
const INGEST_MARK = `rtmp://127.0.0.1:${E2E_RTMP_PORT}/live/`;

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Running ffmpeg processes of browser ingest (args contain our RTMP URL and pipe:0). */
function ingestFfmpegs(): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,ppid,comm,args'], { encoding: 'utf8' });
  return out
    .split('\n')
    .slice(1)
    .filter((line) => {
      const [, , comm] = line.trim().split(/\s+/);
      return comm === 'ffmpeg' && line.includes(INGEST_MARK) && line.includes('pipe:0');
    });
}

async function requireIngest(request: APIRequestContext): Promise<void> {
  const res = await request.get('/api/ingest');
  expect(res.status(), 'GET /api/ingest').toBe(200);
  const body = (await res.json()) as { available: boolean; reason?: string };
  expect(body.available, `browser ingest unavailable: ${body.reason ?? ''}`).toBe(true);
}

async function openBroadcast(page: Page, query = ''): Promise<void> {
  await page.context().grantPermissions(['camera', 'microphone']);
  await page.goto(`/broadcast${query}`);
  await expect(page.getByRole('heading', { level: 1, name: 'Go live' })).toBeVisible();
  // Enabled once the camera is open and the server said browser ingest works.
  await expect(page.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
  await expect(page.getByTestId('status')).toHaveText('idle');
}

function hookState(page: Page) {
  return page.evaluate(() => (window as unknown as HookWindow).__golive.state());
}

/** Press Go live and wait for `live`; returns the stream id. */
async function goLive(page: Page): Promise<string> {
  await page.getByTestId('go-live').click();
  await expect(page.getByTestId('status')).toHaveText('live', { timeout: 45_000 });
  await expect(page.getByTestId('health')).toBeVisible();
  const { streamId } = await hookState(page);
  expect(streamId).toBeTruthy();
  return streamId as string;
}

async function waitListed(request: APIRequestContext, id: string): Promise<void> {
  await expect
    .poll(
      async () => {
        const res = await request.get('/api/streams');
        const body = (await res.json()) as { streams: Array<{ id: string; live: boolean }> };
        return body.streams.some((s) => s.id === id && s.live);
      },
      { timeout: 30_000, message: `stream ${id} in GET /api/streams` },
    )
    .toBe(true);
}

/** ffprobe the relay's RTMP output of a stream. */
function ffprobe(id: string, timeoutMs = 45_000): Promise<ProbeStream[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'ffprobe',
      ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', `${RTMP_BASE}/${id}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0) return reject(new Error(`ffprobe exited ${code ?? signal}: ${err}`));
      try {
        resolve(((JSON.parse(out) as { streams?: ProbeStream[] }).streams ?? []) as ProbeStream[]);
      } catch {
        reject(new Error(`ffprobe output is not JSON: ${out.slice(0, 500)}`));
      }
    });
  });
}

function expectH264Aac720(streams: ProbeStream[]): void {
  const video = streams.find((s) => s.codec_name === 'h264');
  const audio = streams.find((s) => s.codec_name === 'aac');
  expect(video, `h264 video in ${JSON.stringify(streams)}`).toBeTruthy();
  expect(video?.width).toBe(1280);
  expect(video?.height).toBe(720);
  expect(audio, `aac audio in ${JSON.stringify(streams)}`).toBeTruthy();
}

async function stopAndExpectEnded(page: Page, request: APIRequestContext, id: string): Promise<void> {
  await page.getByTestId('stop').click();
  await expect(page.getByTestId('status')).toHaveText('ended', { timeout: 15_000 });
  // The preview stays.
  await expect(page.getByTestId('go-live')).toBeEnabled();
  await expect
    .poll(
      async () => {
        const body = (await (await request.get('/api/streams')).json()) as { streams: Array<{ id: string }> };
        return body.streams.some((s) => s.id === id);
      },
      { timeout: 20_000, message: `stream ${id} leaves GET /api/streams after Stop` },
    )
    .toBe(false);
}

/** An RTMP player that copies the stream into a file (it must survive a publisher's reconnect). */
function rtmpPlayer(id: string, file: string): { child: ChildProcess; stderr: () => string; size: () => number; exitedAt: () => number | null } {
  const child = spawn(
    'ffmpeg',
    ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-i', `${RTMP_BASE}/${id}`, '-c', 'copy', '-flush_packets', '1', '-f', 'flv', file],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.add(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  let exitedAt: number | null = null;
  child.on('close', () => {
    exitedAt = Date.now();
    children.delete(child);
  });
  return {
    child,
    stderr: () => err,
    exitedAt: () => exitedAt,
    size: () => {
      try {
        return statSync(file).size;
      } catch {
        return 0;
      }
    },
  };
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  child.kill('SIGTERM');
  await Promise.race([closed, sleep(3000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

// Going live from the page needs the operator's sign-in (the session cookie creates the stream).
test.beforeEach(async ({ context }) => {
  await signInContext(context);
});

test.afterEach(async ({ page }) => {
  // Closing the page drops whatever still runs; every ingest ffmpeg must then go away.
  await page.close();
  const deadline = Date.now() + 12_000;
  let left = ingestFfmpegs();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(250);
    left = ingestFfmpegs();
  }
  expect(left, 'ingest ffmpeg processes still running').toEqual([]);
});

test('go live at 720p: H.264 passes through to RTMP (h264 1280x720 + aac), Stop ends it', async ({ page, request }) => {
  await requireIngest(request);
  await openBroadcast(page);
  await expect(page.getByLabel('Quality')).toHaveValue('720p');
  const id = await goLive(page);

  await expect(page.getByTestId('watch-link')).toHaveAttribute('href', new RegExp(`/watch/${id}$`));
  await waitListed(request, id);
  expectH264Aac720(await ffprobe(id));
  await expect(page.getByTestId('health')).toHaveAttribute('data-health', /good|struggling/);

  await stopAndExpectEnded(page, request, id);
});

test('?codec=vp8 takes the transcode path: still h264 1280x720 + aac on RTMP', async ({ page, request }) => {
  await requireIngest(request);
  await openBroadcast(page, '?codec=vp8');
  const id = await goLive(page);
  await expect(page.getByText('re-encoded to H.264 by the server')).toBeVisible();

  await waitListed(request, id);
  expectH264Aac720(await ffprobe(id));

  await stopAndExpectEnded(page, request, id);
});

test('a dropped WebSocket reconnects by itself and an attached RTMP player keeps receiving', async ({ page, request }) => {
  await requireIngest(request);
  await openBroadcast(page);
  const id = await goLive(page);
  await waitListed(request, id);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'golive-e2e-player-'));
  const player = rtmpPlayer(id, path.join(dir, 'out.flv'));
  try {
    await expect.poll(() => player.size(), { timeout: 30_000, message: 'the RTMP player receives' }).toBeGreaterThan(64 * 1024);

    const droppedAt = Date.now();
    await page.evaluate(() => {
      const w = window as unknown as HookWindow;
      const el = document.querySelector('[data-testid=status]') as HTMLElement;
      w.__statusLog = [el.textContent ?? ''];
      new MutationObserver(() => w.__statusLog?.push(el.textContent ?? '')).observe(el, {
        childList: true,
        characterData: true,
        subtree: true,
      });
      w.__golive.dropConnection();
    });

    await expect(page.getByTestId('status')).toHaveText('live', { timeout: 45_000 });
    const log = await page.evaluate(() => (window as unknown as HookWindow).__statusLog ?? []);
    const lost = log.indexOf('reconnecting');
    expect(lost, `status went through reconnecting: ${log.join(' → ')}`).toBeGreaterThanOrEqual(0);
    expect(log.slice(lost + 1), `live again after reconnecting: ${log.join(' → ')}`).toContain('live');
    const state = await hookState(page);
    expect(state.reconnects).toBeGreaterThanOrEqual(1);
    expect(state.streamId).toBe(id);
    expect(state.error).toBeNull();

    // The player did not end: it keeps growing for several seconds after the page is live again.
    const before = player.size();
    await sleep(6000);
    const exited = player.exitedAt();
    expect(
      player.child.exitCode,
      `the RTMP player exited ${exited ? exited - droppedAt : '?'} ms after the drop: ${player.stderr()}`,
    ).toBeNull();
    expect(player.child.signalCode).toBeNull();
    const after = player.size();
    expect(after - before, 'bytes the player received in the 6 s after the reconnect').toBeGreaterThan(100 * 1024);
    await expect(page.getByTestId('status')).toHaveText('live');

    await stopAndExpectEnded(page, request, id);
  } finally {
    await killChild(player.child);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a garbage first chunk: the page shows the server reason, the server stays healthy', async ({ page, request }) => {
  await requireIngest(request);
  await openBroadcast(page);
  await page.evaluate(() => {
    (window as unknown as HookWindow).__golive.sendGarbageFirst = true;
  });
  await page.getByTestId('go-live').click();

  await expect(page.getByTestId('status')).toHaveText('error', { timeout: 45_000 });
  const alert = page.getByTestId('error');
  await expect(alert).toBeVisible();
  await expect(alert).toHaveAttribute('role', 'alert');
  await expect(alert).toContainText(/WebM|MP4/);
  const state = await hookState(page);
  expect(state.error).toMatch(/WebM|MP4/);
  await expect(page.getByTestId('stop')).toBeDisabled();

  const health = await request.get('/healthz');
  expect(health.status()).toBe(200);
});

test('a wrong stream key: the page shows the server reason about the key and does not reconnect', async ({ page, request }) => {
  await requireIngest(request);
  const { id } = await createStream(request, 'wrong key e2e');
  const stored = JSON.stringify({ id, key: `${id}_wrong` });
  await page.addInitScript((value) => window.localStorage.setItem('golive.stream', value), stored);
  await openBroadcast(page);
  await page.getByTestId('go-live').click();

  await expect(page.getByTestId('status')).toHaveText('error', { timeout: 30_000 });
  await expect(page.getByTestId('error')).toContainText(/key/i);
  const state = await hookState(page);
  expect(state.streamId).toBe(id);
  expect(state.error).toMatch(/key/i);
  // No reconnection after a refusal.
  await sleep(2000);
  expect((await hookState(page)).reconnects).toBe(0);
  await expect(page.getByTestId('status')).toHaveText('error');
});

test('a server without ffmpeg: the page says why and disables Go live; the OBS panel still works', async ({ page }) => {
  await page.route('**/api/ingest', (route) =>
    route.fulfill({ json: { available: false, reason: 'no ffmpeg found', maxMessageBytes: 8 * 1024 * 1024 } }),
  );
  await page.context().grantPermissions(['camera', 'microphone']);
  await page.goto('/broadcast');
  await expect(page.getByTestId('error')).toContainText('Browser broadcasting is unavailable on this server: no ffmpeg found');
  await expect(page.getByLabel(/Camera preview/)).toBeVisible(); // the camera works, only going live does not
  await expect(page.getByTestId('go-live')).toBeDisabled();

  await page.getByText('Use OBS or ffmpeg instead').click();
  const obs = page.locator('details.obs');
  await expect(obs.locator('code').first()).toHaveText(RTMP_BASE, { timeout: 15_000 });
  const key = (await obs.locator('code').nth(1).textContent()) ?? '';
  expect(key.length).toBeGreaterThan(8);
  await expect(obs.locator('code').nth(2)).toHaveText(`ffmpeg -re -i file.mp4 -c copy -f flv ${RTMP_BASE}/${key}`);
  await expect(obs.getByRole('button', { name: 'Copy Stream key' })).toBeVisible();
  const stored = await page.evaluate(() => JSON.parse(window.localStorage.getItem('golive.stream') ?? 'null') as { key: string } | null);
  expect(stored?.key).toBe(key);
});

for (const [name, errorName, text] of [
  ['camera permission denied', 'NotAllowedError', /Permission to use the camera and microphone was denied/],
  ['no camera', 'NotFoundError', /No camera was found/],
] as const) {
  test(`${name}: a clear message, Go live disabled`, async ({ page }) => {
    await page.addInitScript((errName) => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('refused by the test', errName));
    }, errorName);
    await page.goto('/broadcast');
    await expect(page.getByTestId('error')).toContainText(text);
    await expect(page.getByRole('button', { name: 'Try again' })).toBeVisible();
    await expect(page.getByTestId('go-live')).toBeDisabled();
  });
}

test('a browser without MediaRecorder is told so', async ({ page }) => {
  await page.addInitScript(() => {
    delete (window as unknown as { MediaRecorder?: unknown }).MediaRecorder;
  });
  await page.context().grantPermissions(['camera', 'microphone']);
  await page.goto('/broadcast');
  await expect(page.getByTestId('error')).toContainText('MediaRecorder');
  await expect(page.getByTestId('go-live')).toBeDisabled();
});
