/**
 * Recordings outside the watch page, against the real server and real ffmpeg: the stream manager's per-stream
 * recording switch, "Recent broadcasts" on / (title, duration, a thumbnail taken while live, the replay link), the
 * title a broadcast was made under kept through a rename (on / and /watch), and deleting a recording from the manager.
 */
import { expect, test, type APIRequestContext } from '@playwright/test';
import { createStream, operatorHeaders, publish, signInContext, waitLive } from './support';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

async function managed(request: APIRequestContext, id: string): Promise<{ record: boolean | null; recorded: boolean }> {
  const res = await request.get('/api/streams?all=1', { headers: operatorHeaders() });
  const { streams } = (await res.json()) as { streams: Array<{ id: string; record: boolean | null; recorded: boolean }> };
  return streams.find((s) => s.id === id)!;
}

async function recordings(request: APIRequestContext, id: string): Promise<Array<{ id: string; state: string }>> {
  const res = await request.get(`/api/streams/${id}/recordings`);
  return ((await res.json()) as { recordings: Array<{ id: string; state: string }> }).recordings;
}

test('switch recording off and on in the manager; the broadcast is on / with its thumbnail; delete it from the manager', async ({ page, context, request }) => {
  const title = `Recorded e2e ${Date.now().toString(36)}`;
  const s = await createStream(request, title);
  await signInContext(context);
  await page.goto('/streams');
  const row = page.locator(`[data-testid="stream-row"][data-stream-id="${s.id}"]`);
  const box = row.getByRole('checkbox', { name: `Record ${title}` });
  await expect(box).toBeChecked();
  await expect(row).toContainText('Recorded');

  await box.uncheck();
  await expect(row).toContainText('Not recorded');
  await expect.poll(async () => (await managed(request, s.id)).record).toBe(false);
  await page.reload();
  await expect(row.getByRole('checkbox', { name: `Record ${title}` })).not.toBeChecked();
  await row.getByRole('checkbox', { name: `Record ${title}` }).check();
  await expect.poll(async () => (await managed(request, s.id)).record).toBe(true);
  await expect(row.getByRole('checkbox', { name: `Record ${title}` })).toBeChecked();

  // A broadcast of a few seconds: recorded, and listed on / once it has ended (after the grace period).
  const pub = publish(s.key);
  await waitLive(request, s.id);
  await page.waitForTimeout(7000);
  await pub.stop();
  await expect.poll(async () => (await recordings(request, s.id)).map((r) => r.state), { timeout: 40_000 }).toEqual(['ended']);
  const [rec] = await recordings(request, s.id);

  await page.goto('/');
  const card = page.getByTestId('recent-card').filter({ hasText: title });
  await expect(card).toBeVisible();
  await expect(card).toHaveAttribute('href', `/watch/${s.id}?recording=${rec.id}`);
  await expect(card.getByTestId('recent-duration')).toHaveText(/^0:0[5-9]$|^0:1\d$/);
  const thumb = card.getByTestId('recent-thumbnail');
  await expect(thumb).toBeVisible();
  await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(480);

  // Renamed after the broadcast: / and the watch page's past broadcasts keep the title it was broadcast under.
  const renamed = `${title} (renamed)`;
  const rename = async (to: string) => expect((await request.patch(`/api/streams/${s.id}`, { headers: operatorHeaders(), data: { title: to } })).status()).toBe(200);
  await rename(renamed);
  await page.goto('/');
  await expect(page.locator(`[data-testid="recent-card"][href="/watch/${s.id}?recording=${rec.id}"] h3`)).toHaveText(title);
  await page.goto(`/watch/${s.id}?recording=${rec.id}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(renamed);
  await expect(page.locator(`[data-testid="recording-item"][data-rid="${rec.id}"] [data-testid="recording-title"]`)).toHaveText(title);
  await expect(page.getByTestId('replay-title')).toHaveText(title);

  // The manager lists it under that title too; delete it from there (asked first).
  await page.goto('/streams');
  await row.getByRole('button', { name: `Recordings of ${renamed}` }).click();
  const item = page.locator(`[data-testid="recording-item"][data-recording-id="${rec.id}"]`);
  await expect(item).toBeVisible();
  await expect(item.getByTestId('recording-title')).toHaveText(title);
  await rename(title);
  await expect(item.getByRole('link', { name: 'Replay' })).toHaveAttribute('href', `/watch/${s.id}?recording=${rec.id}`);
  await item.getByRole('button', { name: /^Delete the recording/ }).click();
  await item.getByRole('button', { name: 'Delete recording' }).click();
  await expect(item).toHaveCount(0);
  await expect(page.getByTestId('recordings-empty')).toBeVisible();
  expect((await request.get(`/api/recordings/${rec.id}`)).status()).toBe(404);
  expect((await request.get(`/api/recordings/${rec.id}/thumbnail.jpg`)).status()).toBe(404);
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Recent broadcasts' })).toBeVisible();
  await expect(page.getByTestId('recent-card').filter({ hasText: title })).toHaveCount(0);
});
