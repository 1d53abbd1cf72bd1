import { spawn, type ChildProcess } from 'node:child_process';
import type { APIRequestContext, BrowserContext } from '@playwright/test';
import { E2E_ADMIN_TOKEN, E2E_PORT, E2E_RTMP_PORT } from '../playwright.config';

export const RTMP_BASE = `rtmp://127.0.0.1:${E2E_RTMP_PORT}/live`;
export const ORIGIN = `http://127.0.0.1:${E2E_PORT}`;
/** The e2e server's operator token (ADMIN_TOKEN in playwright.config.ts). */
export const ADMIN_TOKEN = E2E_ADMIN_TOKEN;
/** For API calls as the operator: `request.post(url, { headers: operatorHeaders(), data })`. */
export function operatorHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { Authorization: `Bearer ${ADMIN_TOKEN}`, ...extra };
}

/**
 * Signs a browser context in as the operator the way a page does (POST /api/session, same origin): the session
 * cookie lands in the context's cookie jar, so its pages are signed in.
 */
export async function signInContext(context: BrowserContext): Promise<void> {
  const res = await context.request.post('/api/session', {
    data: { token: ADMIN_TOKEN },
    headers: { Origin: ORIGIN },
  });
  if (res.status() !== 204) throw new Error(`sign in: POST /api/session answered ${res.status()}: ${await res.text()}`);
  const cookies = await context.cookies(ORIGIN);
  if (!cookies.some((c) => c.name === 'golive_session')) throw new Error('sign in: no golive_session cookie was set');
}

const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of started) c.kill('SIGKILL');
});

/**
 * ffmpeg publishing a synthetic 320x240@25 H.264/AAC stream in real time until stopped. `video`: another lavfi
 * source graph for the picture (25 fps, as the keyframe interval assumes).
 */
/** `videoArgs`: more output options for the video (e.g. to keep uneven frame times: e2e/realtime.spec.ts). */
export function publish(key: string, opts: { size?: string; video?: string; videoArgs?: string[] } = {}): { stop: () => Promise<void>; stderr: () => string } {
  const child = spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', opts.video ?? `testsrc=size=${opts.size ?? '320x240'}:rate=25`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', '25', ...(opts.videoArgs ?? []),
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', `${RTMP_BASE}/${key}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  started.add(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-5000)));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  return {
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      started.delete(child);
    },
    stderr: () => err,
  };
}

/** POST /api/streams as the operator (Bearer). */
export async function createStream(request: APIRequestContext, title = 'e2e', opts: { listed?: boolean } = {}): Promise<{ id: string; key: string }> {
  const res = await request.post('/api/streams', { data: { title, ...opts }, headers: operatorHeaders() });
  if (res.status() !== 201) throw new Error(`create stream: ${res.status()} ${await res.text()}`);
  return res.json();
}

export async function waitLive(request: APIRequestContext, id: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await request.get(`/api/streams/${id}`);
    if (res.ok() && (await res.json()).live) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`stream ${id} did not go live`);
}
