/**
 * Operator access from the pages: the sign-in link the server logs, the session cookie, Sign out, and the stream
 * manager at /streams (create, rename, unlist, new key, delete) against the real server.
 */
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { ADMIN_TOKEN, ORIGIN, operatorHeaders, publish, signInContext, waitLive } from './support';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

interface ListedStream {
  id: string;
  title: string;
  live: boolean;
}

async function directory(request: APIRequestContext): Promise<ListedStream[]> {
  const res = await request.get('/api/streams');
  expect(res.status()).toBe(200);
  return ((await res.json()) as { streams: ListedStream[] }).streams;
}

async function allStreams(request: APIRequestContext): Promise<Array<ListedStream & { listed: boolean; state: string }>> {
  const res = await request.get('/api/streams?all=1', { headers: operatorHeaders() });
  expect(res.status()).toBe(200);
  return ((await res.json()) as { streams: Array<ListedStream & { listed: boolean; state: string }> }).streams;
}

function sessionOf(page: Page): Promise<{ signedIn: boolean; auth: string }> {
  return page.evaluate(async () => (await fetch('/api/session', { cache: 'no-store' })).json());
}

test('the sign-in link signs in and leaves no token behind; go live; sign out; /broadcast asks to sign in', async ({ page, context, request }) => {
  await context.grantPermissions(['camera', 'microphone']);
  const sessionPosts: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/session' && r.method() === 'POST') sessionPosts.push(r.url());
  });

  // Signed out: /broadcast says what to do, and no camera is opened for a visitor who cannot go live.
  await page.goto('/broadcast');
  await expect(page.getByRole('heading', { level: 1, name: 'Go live' })).toBeVisible();
  await expect(page.getByTestId('signin-panel')).toBeVisible();
  await expect(page.getByTestId('signin-panel')).toContainText('admin-token');
  await expect(page.getByTestId('signin-panel')).toContainText('sign-in link');
  await expect(page.getByTestId('go-live')).toHaveCount(0);

  // The link the server logs: the token rides in the fragment.
  await page.goto(`/signin#token=${encodeURIComponent(ADMIN_TOKEN)}`);
  await expect(page).toHaveURL(`${ORIGIN}/broadcast`, { timeout: 20_000 });
  expect(page.url()).not.toContain(ADMIN_TOKEN);
  // The token went in a POST body, never in a URL.
  expect(sessionPosts.length).toBe(1);
  expect(sessionPosts.every((u) => !u.includes(ADMIN_TOKEN))).toBe(true);
  // The sign-in entry was replaced in this tab's history: Back goes to the page before it.
  await page.goBack();
  expect(page.url()).toBe(`${ORIGIN}/broadcast`);
  await page.goForward();
  expect(page.url()).toBe(`${ORIGIN}/broadcast`);
  const cookie = (await context.cookies(ORIGIN)).find((c) => c.name === 'golive_session');
  expect(cookie, 'the session cookie').toBeTruthy();
  expect(cookie?.httpOnly).toBe(true);
  expect(cookie?.sameSite).toBe('Strict');
  expect(cookie?.value).not.toContain(ADMIN_TOKEN);
  expect(await page.evaluate(() => document.cookie)).not.toContain('golive_session');
  expect(await sessionOf(page)).toMatchObject({ signedIn: true });

  // Signed in: go live as before.
  await expect(page.getByTestId('operator-bar')).toContainText('Signed in');
  await expect(page.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
  await page.getByTestId('go-live').click();
  await expect(page.getByTestId('status')).toHaveText('live', { timeout: 45_000 });
  const id = await page.evaluate(() => (window as unknown as { __golive: { state(): { streamId: string } } }).__golive.state().streamId);
  expect(id).toBeTruthy();
  await expect.poll(async () => (await directory(request)).some((s) => s.id === id && s.live), { timeout: 30_000 }).toBe(true);

  // The sign-in ends behind the page's back while on air (the forward targets poll answers 401): the page asks to sign
  // in again, and the broadcast goes on; signing in again from that panel keeps it on air.
  await context.clearCookies();
  await expect(page.getByTestId('signin-panel')).toContainText('Your sign-in has ended', { timeout: 15_000 });
  await expect(page.getByTestId('status')).toHaveText('live');
  expect(await page.evaluate(() => (window as unknown as { __golive: { state(): { reconnects: number } } }).__golive.state().reconnects)).toBe(0);
  expect((await directory(request)).some((s) => s.id === id && s.live)).toBe(true);
  await page.getByLabel('Operator token', { exact: true }).fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('operator-bar')).toContainText('Signed in', { timeout: 15_000 });
  await expect(page.getByTestId('signin-panel')).toHaveCount(0);
  await expect(page.getByTestId('status')).toHaveText('live');

  // Sign out: the broadcast ends, the page asks to sign in, and the server agrees.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByTestId('signin-panel')).toBeVisible();
  await expect(page.getByTestId('go-live')).toHaveCount(0);
  expect(await sessionOf(page)).toMatchObject({ signedIn: false });
  expect((await context.cookies(ORIGIN)).some((c) => c.name === 'golive_session' && c.value)).toBe(false);
  // The page forgot the stream key it kept.
  expect(await page.evaluate(() => localStorage.getItem('golive.stream'))).toBeNull();
  await expect.poll(async () => (await directory(request)).some((s) => s.id === id), { timeout: 30_000 }).toBe(false);

  // Still signed out after a reload; creating a stream from this browser is refused.
  await page.reload();
  await expect(page.getByTestId('signin-panel')).toBeVisible();
  const refused = await page.evaluate(async () => {
    const res = await fetch('/api/streams', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    return res.status;
  });
  expect(refused).toBe(401);

  // A wrong token in the form: the reason, still signed out.
  await page.getByLabel('Operator token', { exact: true }).fill('not-the-token-at-all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('signin-error')).toBeVisible();
  await expect(page.getByTestId('go-live')).toHaveCount(0);

  // The right token in the form: the broadcaster.
  await page.getByLabel('Operator token', { exact: true }).fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByTestId('signin-panel')).toBeVisible();
});

test('/signin?next= goes to a path on this site, never elsewhere; a bad link shows the form', async ({ page }) => {
  await page.goto(`/signin?next=${encodeURIComponent('/streams')}#token=${encodeURIComponent(ADMIN_TOKEN)}`);
  await expect(page).toHaveURL(`${ORIGIN}/streams`, { timeout: 20_000 });
  await expect(page.getByTestId('streams-table').or(page.getByTestId('streams-empty'))).toBeVisible();

  await page.goto(`/signin?next=${encodeURIComponent('//example.com/x')}#token=${encodeURIComponent(ADMIN_TOKEN)}`);
  await expect(page).toHaveURL(`${ORIGIN}/broadcast`, { timeout: 20_000 });

  await page.context().clearCookies();
  await page.goto('/signin#token=wrong-token-for-this-server');
  await expect(page.getByTestId('signin-error')).toContainText('did not work');
  expect(page.url()).toBe(`${ORIGIN}/signin`);
  await expect(page.getByLabel('Operator token', { exact: true })).toBeVisible();
});

test('a session gone behind the page\'s back: Go live asks to sign in again, and signing in goes on', async ({ page, context }) => {
  await context.grantPermissions(['camera', 'microphone']);
  await signInContext(context);
  await page.goto('/broadcast');
  await expect(page.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
  await context.clearCookies();
  await page.getByTestId('go-live').click();
  await expect(page.getByTestId('signin-panel')).toBeVisible({ timeout: 15_000 });
  await expect(page.getByTestId('go-live')).toHaveCount(0);
  await page.getByLabel('Operator token', { exact: true }).fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
});

test('/streams signed out asks to sign in', async ({ page }) => {
  await page.goto('/streams');
  await expect(page.getByRole('heading', { level: 1, name: 'Streams' })).toBeVisible();
  await expect(page.getByTestId('signin-panel')).toBeVisible();
  await expect(page.getByTestId('streams-table')).toHaveCount(0);
});

test('the stream manager creates, renames, unlists, re-keys and deletes a live stream; the directory drops it', async ({ page, context, request }) => {
  await signInContext(context);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const title = `Manager e2e ${Date.now().toString(36)}`;

  // Reached from the header.
  await page.goto('/');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Streams' }).click();
  await expect(page).toHaveURL(/\/streams$/);

  // Create: the key is shown once.
  await page.getByLabel('Title', { exact: true }).fill(title);
  await expect(page.getByLabel('Listed on the home page', { exact: true })).toBeChecked();
  await page.getByRole('button', { name: 'Create stream' }).click();
  const issued = page.getByTestId('issued-key');
  await expect(issued).toContainText(`Stream “${title}” created`);
  const id = (await issued.getAttribute('data-stream-id')) as string;
  expect(id).toBeTruthy();
  const key = (await issued.locator('.copy-row code').nth(1).textContent())?.trim() as string;
  expect(key.length).toBeGreaterThan(8);
  await issued.getByRole('button', { name: 'Copy Stream key' }).click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
  await issued.getByRole('button', { name: 'Done' }).click();
  await expect(issued).toHaveCount(0);

  const row = page.locator(`[data-testid=stream-row][data-stream-id="${id}"]`);
  await expect(row).toBeVisible();
  await expect(row.getByTestId('stream-state')).toHaveText('Offline');
  await expect(row).toContainText('never');

  const pub = publish(key);
  try {
    await waitLive(request, id);
    await expect(row.getByTestId('stream-state')).toHaveText('Live', { timeout: 20_000 });
    await expect.poll(async () => (await directory(request)).some((s) => s.id === id), { timeout: 15_000 }).toBe(true);

    // Rename inline.
    const renamed = `${title} (renamed)`;
    await row.getByRole('button', { name: `Rename ${title}` }).click();
    const input = row.getByLabel(`New title for ${title}`);
    await expect(input).toBeFocused();
    await input.fill(renamed);
    await input.press('Enter');
    await expect(row.getByTestId('stream-title')).toHaveText(renamed);
    await expect.poll(async () => (await allStreams(request)).find((s) => s.id === id)?.title).toBe(renamed);

    // Unlist: out of the directory while still live; list it again: back.
    await row.getByLabel(`List ${renamed} on the home page`).uncheck();
    await expect(row).toContainText('Unlisted');
    await expect.poll(async () => (await directory(request)).some((s) => s.id === id), { timeout: 15_000 }).toBe(false);
    expect((await allStreams(request)).find((s) => s.id === id)).toMatchObject({ listed: false, live: true });
    await row.getByLabel(`List ${renamed} on the home page`).check();
    await expect(row).toContainText('Listed');
    await expect.poll(async () => (await directory(request)).some((s) => s.id === id), { timeout: 15_000 }).toBe(true);
    await page.goto('/');
    await expect(page.getByTestId('live-card').filter({ hasText: renamed })).toBeVisible({ timeout: 15_000 });
    await page.goto('/streams');

    // Rotate the key: asked first, then shown once and different from the old one.
    await row.getByRole('button', { name: `Rotate key of ${renamed}` }).click();
    await row.getByRole('button', { name: 'Rotate now' }).click();
    await expect(issued).toContainText(`New key for “${renamed}”`);
    const newKey = (await issued.locator('.copy-row code').nth(1).textContent())?.trim();
    expect(newKey).toBeTruthy();
    expect(newKey).not.toBe(key);
    await issued.getByRole('button', { name: 'Done' }).click();

    // Delete while live: asked first; Cancel keeps it.
    await row.getByRole('button', { name: `Delete ${renamed}` }).click();
    await expect(row.getByRole('group', { name: `Confirm deleting ${renamed}` })).toContainText('The broadcast ends now');
    await row.getByRole('button', { name: 'Cancel' }).click();
    await expect(row).toBeVisible();
    await row.getByRole('button', { name: `Delete ${renamed}` }).click();
    await row.getByRole('button', { name: 'Delete stream' }).click();
    await expect(row).toHaveCount(0);

    // Gone from the API and the directory page, at once (it was live).
    await expect.poll(async () => (await directory(request)).some((s) => s.id === id), { timeout: 15_000 }).toBe(false);
    expect((await allStreams(request)).some((s) => s.id === id)).toBe(false);
    await page.goto('/');
    await expect(page.getByRole('heading', { level: 1, name: 'Live now' })).toBeVisible();
    await page.waitForLoadState('networkidle');
    await expect(page.getByTestId('live-card').filter({ hasText: renamed })).toHaveCount(0);
    // Still gone after a reload of the manager.
    await page.goto('/streams');
    await expect(page.getByTestId('streams-table').or(page.getByTestId('streams-empty'))).toBeVisible();
    await expect(page.locator(`[data-testid=stream-row][data-stream-id="${id}"]`)).toHaveCount(0);
  } finally {
    await pub.stop();
  }
});

test('a stream deleted in the manager: the broadcast page says its key no longer works and offers a new stream', async ({ browser }) => {
  const context = await browser.newContext();
  try {
    await context.grantPermissions(['camera', 'microphone']);
    await signInContext(context);
    const page = await context.newPage();
    await page.goto('/broadcast');
    await expect(page.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
    await page.getByTestId('go-live').click();
    await expect(page.getByTestId('status')).toHaveText('live', { timeout: 45_000 });
    const first = await page.evaluate(() => (window as unknown as { __golive: { state(): { streamId: string } } }).__golive.state().streamId);

    // The operator deletes it from another tab.
    const manager = await context.newPage();
    await manager.goto('/streams');
    const row = manager.locator(`[data-testid=stream-row][data-stream-id="${first}"]`);
    await row.getByRole('button', { name: /^Delete / }).click();
    await row.getByRole('button', { name: 'Delete stream' }).click();
    await expect(row).toHaveCount(0);
    await manager.close();

    // The page's broadcast is refused (4401), at once or when it tries again: it says so and offers a new stream.
    await page.bringToFront();
    const status = page.getByTestId('status');
    await expect(status).toHaveText(/^(error|ended)$/, { timeout: 40_000 });
    if ((await status.textContent()) === 'ended') {
      await page.getByTestId('go-live').click();
      await expect(status).toHaveText('error', { timeout: 30_000 });
    }
    const refused = page.getByTestId('key-refused');
    await expect(refused).toContainText('no longer works');
    expect(await page.evaluate(() => localStorage.getItem('golive.stream'))).toBeNull();
    await refused.getByRole('button', { name: 'Go live on a new stream' }).click();
    await expect(page.getByTestId('status')).toHaveText('live', { timeout: 45_000 });
    const second = await page.evaluate(() => (window as unknown as { __golive: { state(): { streamId: string } } }).__golive.state().streamId);
    expect(second).toBeTruthy();
    expect(second).not.toBe(first);
    await page.getByTestId('stop').click();
    await expect(page.getByTestId('status')).toHaveText('ended', { timeout: 15_000 });
  } finally {
    await context.close();
  }
});
