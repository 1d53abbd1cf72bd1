import { expect, test, type Page } from '@playwright/test';

function collectConsoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  return errors;
}

test('healthz answers with the server state', async ({ request }) => {
  const res = await request.get('/healthz');
  expect(res.status()).toBe(200);
  const body = await res.json();
  expect(body.status).toBe('ok');
  expect(body.ffmpeg.found).toBe(true);
  expect(body.ffmpeg.version).toMatch(/^\S+/);
});

for (const [path, heading] of [
  ['/', 'Live now'],
  ['/broadcast', 'Go live'],
  ['/signin', 'Sign in'],
  ['/streams', 'Streams'],
  ['/watch/abc', 'Stream abc'],
] as const) {
  test(`${path} renders with no console errors`, async ({ page }) => {
    const errors = collectConsoleErrors(page);
    const res = await page.goto(path);
    expect(res?.status()).toBe(200);
    await expect(page.getByRole('heading', { level: 1, name: heading })).toBeVisible();
    await expect(page.getByRole('link', { name: 'GoLive home' })).toBeVisible();
    await page.waitForLoadState('networkidle');
    expect(errors).toEqual([]);
  });
}

test('the live list shows its empty state pointing to /broadcast', async ({ page }) => {
  await page.goto('/');
  const empty = page.getByTestId('live-empty');
  await expect(empty).toBeVisible();
  await empty.getByRole('link', { name: 'Go live' }).click();
  await expect(page).toHaveURL(/\/broadcast$/);
});

test('an unknown page gets the not-found page with status 404', async ({ page }) => {
  const res = await page.goto('/no/such/page');
  expect(res?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Not found' })).toBeVisible();
});
