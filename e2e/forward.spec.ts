/**
 * /broadcast "Also stream to" against the real server and a real nginx-rtmp (Debian nginx + libnginx-mod-rtmp,
 * started here on free loopback ports): a custom target added on the page goes live with the broadcast and nginx
 * has the stream (ffprobe); targets that refuse (wrong application, closed port) show why, while our own viewers
 * keep playing; a bad URL and a lost sign-in are said clearly.
 */
import { expect, test, type Locator, type Page } from '@playwright/test';
import { probe } from '../server/testing/harness';
import { nginxRtmpAvailable, startNginxRtmp, type NginxRtmp } from '../server/testing/nginx';
import { freePort } from '../server/testing/sockets';
import { signInContext } from './support';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

let nginx: NginxRtmp;

test.beforeAll(async () => {
  expect(nginxRtmpAvailable(), 'nginx with libnginx-mod-rtmp (apt-get install nginx libnginx-mod-rtmp)').toBe(true);
  nginx = await startNginxRtmp();
});

test.afterAll(async () => {
  await nginx?.dispose();
});

test.beforeEach(async ({ context }) => {
  await signInContext(context);
  await context.grantPermissions(['camera', 'microphone']);
});

test.afterEach(async ({ page }) => {
  // Stop the broadcast if it still runs (the page going away ends it too).
  const stop = page.getByTestId('stop');
  if ((await stop.count()) > 0 && (await stop.isEnabled())) {
    await stop.click();
    await expect(page.getByTestId('status')).toHaveText('ended', { timeout: 15_000 });
  }
  await page.close();
});

async function openBroadcast(page: Page): Promise<void> {
  await page.goto('/broadcast');
  await expect(page.getByRole('heading', { level: 1, name: 'Go live' })).toBeVisible();
  await expect(page.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
  await expect(page.getByTestId('forwards')).toBeVisible();
}

/** Fill the "Also stream to" form with a custom server and key, and add it. */
async function addCustomTarget(page: Page, server: string, key: string, label: string): Promise<void> {
  const panel = page.getByTestId('forwards');
  await panel.getByTestId('forward-preset').selectOption('custom');
  await panel.getByTestId('forward-server').fill(server);
  await panel.getByTestId('forward-key').fill(key);
  await panel.getByTestId('forward-label').fill(label);
  await panel.getByTestId('forward-add').click();
}

function target(page: Page, label: string): Locator {
  return page.getByTestId('forward-target').filter({ hasText: label });
}

async function goLive(page: Page): Promise<string> {
  await page.getByTestId('go-live').click();
  await expect(page.getByTestId('status')).toHaveText('live', { timeout: 45_000 });
  const id = await page.evaluate(() => window.__golive?.state().streamId ?? null);
  expect(id).toBeTruthy();
  return id as string;
}

test('a custom target (our nginx-rtmp) added on /broadcast goes live with the broadcast: nginx has h264 1280x720', async ({ page }) => {
  await openBroadcast(page);
  const key = `e2e-forward-${Date.now()}-secretkey`;
  await addCustomTarget(page, `rtmp://127.0.0.1:${nginx.rtmpPort}/live`, key, 'Test edge');

  // Saved: the page shows the masked URL only, and keeps the key nowhere (the field is a password field, emptied).
  const row = target(page, 'Test edge');
  await expect(row).toBeVisible();
  await expect(row.getByTestId('forward-url')).toHaveText(`rtmp://127.0.0.1:${nginx.rtmpPort}/live/••••${key.slice(-4)}`);
  await expect(row.getByTestId('forward-state')).toHaveText('starts when you go live');
  await expect(page.getByTestId('forward-key')).toHaveAttribute('type', 'password');
  await expect(page.getByTestId('forward-key')).toHaveValue('');
  expect(await page.content()).not.toContain(key);

  await goLive(page);
  await expect(row.getByTestId('forward-state')).toHaveText(/^live · \d+ kbps$/, { timeout: 30_000 });
  // The bitrate comes in with the next polls.
  await expect(row.getByTestId('forward-state')).not.toHaveText('live · 0 kbps', { timeout: 15_000 });

  const streams = await probe(nginx.url(key), 30_000);
  const video = streams.find((s) => s.codec_name === 'h264');
  expect(video, `h264 on nginx: ${JSON.stringify(streams)}`).toBeTruthy();
  expect(video?.width).toBe(1280);
  expect(video?.height).toBe(720);
  expect(streams.some((s) => s.codec_name === 'aac'), `aac on nginx: ${JSON.stringify(streams)}`).toBe(true);
  expect((await nginx.publishers()).map((p) => p.name)).toContain(key);

  // Switched off: the target's connection ends (nginx loses the publisher) and the row says "off".
  await row.getByTestId('forward-enabled').uncheck();
  await expect(row.getByTestId('forward-state')).toHaveText('off');
  await expect.poll(async () => (await nginx.publishers()).map((p) => p.name), { timeout: 15_000 }).not.toContain(key);

  // Removed: gone from the list.
  await row.getByTestId('forward-remove').click();
  await expect(target(page, 'Test edge')).toHaveCount(0);
});

test('targets that refuse show why (wrong application, closed port) while our own viewers keep playing', async ({ page, context }) => {
  await openBroadcast(page);
  const closedPort = await freePort();
  await addCustomTarget(page, `rtmp://127.0.0.1:${nginx.rtmpPort}/nosuchapp`, 'wrong-app-key', 'Wrong app');
  await expect(target(page, 'Wrong app')).toBeVisible();
  await addCustomTarget(page, `rtmp://127.0.0.1:${closedPort}/live`, 'closed-port-key', 'Closed port');
  await expect(target(page, 'Closed port')).toBeVisible();

  const id = await goLive(page);
  await expect(target(page, 'Wrong app').getByTestId('forward-state')).toHaveText(/^failed: .*application "nosuchapp" refused\?\) \(next try in \d+ s\)$/, { timeout: 30_000 });
  await expect(target(page, 'Closed port').getByTestId('forward-state')).toHaveText(
    new RegExp(`(retrying in \\d+ s|connecting \\(last try failed): connection refused by 127\\.0\\.0\\.1:${closedPort}`),
    { timeout: 30_000 },
  );

  // Our own viewer plays on.
  const viewer = await context.newPage();
  await viewer.goto(`/watch/${id}`);
  const time = () => viewer.getByTestId('video').evaluate((v: HTMLVideoElement) => v.currentTime);
  await expect.poll(time, { timeout: 30_000 }).toBeGreaterThan(1);
  const t0 = await time();
  await viewer.waitForTimeout(3000);
  expect(await time()).toBeGreaterThan(t0 + 1);
  await viewer.close();
  await expect(page.getByTestId('status')).toHaveText('live');
  await expect(page.getByTestId('health')).toHaveAttribute('data-health', /good|struggling/);
  // Both targets are still being retried, each with its own reason.
  await expect(target(page, 'Wrong app').getByTestId('forward-state')).toContainText('nosuchapp');
  await expect(target(page, 'Closed port').getByTestId('forward-state')).toContainText(`127.0.0.1:${closedPort}`);
});

test('a URL the server refuses and a lost sign-in are said clearly; nothing is added', async ({ page, context }) => {
  await openBroadcast(page);
  const panel = page.getByTestId('forwards');
  // Caught on the page: no application in the URL.
  await panel.getByTestId('forward-preset').selectOption('custom');
  await panel.getByTestId('forward-server').fill('rtmp://127.0.0.1');
  await panel.getByTestId('forward-key').fill('k');
  await panel.getByTestId('forward-add').click();
  await expect(panel.getByTestId('forward-form-error')).toHaveText(/needs an application/);
  // Caught by the server: an invalid host.
  await addCustomTarget(page, 'rtmp://bad..host/live', 'some-key', 'Bad host');
  await expect(panel.getByTestId('forward-error')).toHaveText('The server refused this target: bad url: url has an invalid host.');
  await expect(page.getByTestId('forward-target')).toHaveCount(0);

  // Signed out behind the page's back: adding asks to sign in again (the page's sign-in panel).
  await context.clearCookies();
  await addCustomTarget(page, `rtmp://127.0.0.1:${nginx.rtmpPort}/live`, 'after-sign-out', 'Late');
  await expect(page.getByRole('heading', { name: 'Sign in to go live' })).toBeVisible({ timeout: 15_000 });
});
