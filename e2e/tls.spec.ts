/**
 * The camera needs a secure page. Chromium resolves `golive.test` to 127.0.0.1 (--host-resolver-rules), so the page
 * has a real non-localhost name:
 * - over plain HTTP (the e2e server) it is not a secure context: /broadcast says so, and what to do;
 * - over HTTPS (a second server started here with TLS_CERT/TLS_KEY, a certificate for golive.test from a test CA
 *   made with openssl) it is one: the fake camera opens and the page goes live over WSS /ingest.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import config, { E2E_PORT } from '../playwright.config';

const NAME = 'golive.test';
const TLS_PORT = Number(process.env.E2E_TLS_PORT || 3143);
const TLS_RTMP_PORT = Number(process.env.E2E_TLS_RTMP_PORT || 19361);
const TLS_RTMPS_PORT = Number(process.env.E2E_TLS_RTMPS_PORT || 19362);
const TLS_ORIGIN = `https://${NAME}:${TLS_PORT}`;
const TOKEN = 'e2e-tls-admin-token-7c2d9e41b0a3';
const launch = config.use?.launchOptions ?? {};

test.use({
  launchOptions: { ...launch, args: [...(launch.args ?? []), `--host-resolver-rules=MAP ${NAME} 127.0.0.1`] },
  // The test CA is not in Chromium's store: certificate errors are ignored (the page still is https).
  ignoreHTTPSErrors: true,
});
test.describe.configure({ mode: 'serial', timeout: 150_000 });

let dir = '';
let server: ChildProcess | null = null;
let serverLog = '';
let ca: Buffer;

function makeCertificates(): { certFile: string; keyFile: string } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=GoLive e2e CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  writeFileSync(path.join(dir, 'ext'), `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${NAME},IP:127.0.0.1\n`);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${NAME}`]);
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '30', '-extfile', 'ext']);
  ca = readFileSync(path.join(dir, 'ca.pem'));
  return { certFile: path.join(dir, 'server.pem'), keyFile: path.join(dir, 'server.key') };
}

function healthy(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port: TLS_PORT, path: '/healthz', ca, servername: NAME, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

test.beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'golive-e2e-tls-'));
  const { certFile, keyFile } = makeCertificates();
  // node itself (not npx), so that SIGTERM reaches the server.
  server = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(TLS_PORT),
      RTMP_PORT: String(TLS_RTMP_PORT),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      DATA_DIR: path.join(dir, 'data'),
      ADMIN_TOKEN: TOKEN,
      TLS_CERT: certFile,
      TLS_KEY: keyFile,
      RTMPS_PORT: String(TLS_RTMPS_PORT),
    },
  });
  const keep = (d: Buffer) => (serverLog = (serverLog + d.toString()).slice(-8000));
  server.stdout?.on('data', keep);
  server.stderr?.on('data', keep);
  const deadline = Date.now() + 90_000;
  while (!(await healthy())) {
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`the TLS server did not start: ${serverLog}`);
    await new Promise((r) => setTimeout(r, 250));
  }
});

test.afterAll(async () => {
  if (server && server.exitCode === null) {
    const gone = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    const t = setTimeout(() => server?.kill('SIGKILL'), 15_000);
    await gone;
    clearTimeout(t);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('over plain HTTP on a real name, /broadcast says it is not a secure context and what to do', async ({ page }) => {
  await page.goto(`http://${NAME}:${E2E_PORT}/broadcast`);
  expect(await page.evaluate(() => window.isSecureContext)).toBe(false);
  const notice = page.getByTestId('insecure-context');
  await expect(notice).toBeVisible();
  await expect(notice).toContainText('will refuse the camera');
  await expect(notice).toContainText('TLS_CERT');
  await expect(notice).toContainText('reverse proxy');
  await expect(notice).toContainText(`https://${NAME}:${E2E_PORT}/broadcast`);
  await expect(page.getByTestId('go-live')).toHaveCount(0); // signed out: the sign-in panel, under the notice
});

test('over HTTPS (TLS_CERT/TLS_KEY) on a real name, /broadcast is a secure context and goes live over WSS', async ({ page, context }) => {
  await context.grantPermissions(['camera', 'microphone'], { origin: TLS_ORIGIN });
  const sockets: string[] = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  // Signed in the way /signin does it, from the page (golive.test resolves only inside Chromium).
  await page.goto(`${TLS_ORIGIN}/signin`);
  const signIn = await page.evaluate(async (token) => (await fetch('/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) })).status, TOKEN);
  expect(signIn).toBe(204);
  const cookies = await context.cookies(TLS_ORIGIN);
  expect(cookies.find((c) => c.name === 'golive_session')?.secure, 'a Secure session cookie').toBe(true);
  await page.goto(`${TLS_ORIGIN}/broadcast`);
  expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
  await expect(page.getByTestId('insecure-context')).toHaveCount(0);
  await expect(page.getByTestId('go-live')).toBeEnabled({ timeout: 30_000 });
  await page.getByTestId('go-live').click();
  await expect(page.getByTestId('status')).toHaveText('live', { timeout: 45_000 });
  expect(sockets.some((u) => u.startsWith(`wss://${NAME}:${TLS_PORT}/ingest`)), `WebSockets: ${sockets.join(', ')}`).toBe(true);
  const streamId = await page.evaluate(() => (window as unknown as { __golive: { state(): { streamId: string | null } } }).__golive.state().streamId);
  expect(streamId).toBeTruthy();
  type Stream = { live: boolean; video: { codec?: string } | null; urls: { watch: string } };
  const read = () => page.evaluate(async (id) => (await fetch(`/api/streams/${id}`)).json() as Promise<Stream>, streamId);
  await expect.poll(async () => { const b = await read(); return b.live && !!b.video; }, { timeout: 30_000, message: 'live with video in the API' }).toBe(true);
  const body = await read();
  expect(body.urls.watch).toBe(`${TLS_ORIGIN}/watch/${streamId}`);
  await page.getByTestId('stop').click();
  await expect(page.getByTestId('status')).toHaveText('ended', { timeout: 15_000 });
  // RTMPS_PORT is on: the OBS panel gives the rtmps:// server next to the rtmp:// one.
  await page.getByText('Use OBS or ffmpeg instead').click();
  const panel = page.locator('details.obs');
  await expect(panel.getByText(`rtmps://${NAME}:${TLS_RTMPS_PORT}/live`, { exact: true })).toBeVisible();
  await expect(panel.getByText(`rtmp://${NAME}:${TLS_RTMP_PORT}/live`, { exact: true })).toBeVisible();
  await expect(panel).toContainText('RTMPS');
});
