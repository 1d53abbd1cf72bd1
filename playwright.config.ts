import { defineConfig } from '@playwright/test';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from '@playwright/test';

/** Playwright's own Chromium where it is installed, else CHROMIUM_PATH, else Debian's. */
function chromiumPath(): string | undefined {
  try {
    const own = chromium.executablePath();
    if (own && existsSync(own)) return undefined;
  } catch {
    /* not installed */
  }
  const candidate = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(candidate)) throw new Error(`no Chromium: install it (apt-get install chromium) or set CHROMIUM_PATH`);
  return candidate;
}

export const E2E_PORT = Number(process.env.E2E_PORT || 3100);
export const E2E_RTMP_PORT = Number(process.env.E2E_RTMP_PORT || 19351);
/** The operator token of the e2e server (ADMIN_TOKEN): tests sign in with it (e2e/support.ts). */
export const E2E_ADMIN_TOKEN = 'e2e-admin-token-3f9c1a7d52b84e60';

export default defineConfig({
  testDir: './e2e',
  // e2e/open/: tests of goals not met yet (they fail today), outside `npm test`; E2E_OPEN=1 runs them.
  testIgnore: process.env.E2E_OPEN ? [] : ['open/**'],
  timeout: 90_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list'], ['json', { outputFile: process.env.PLAYWRIGHT_JSON_OUTPUT_NAME || 'playwright-report/e2e-report.json' }]],
  use: {
    baseURL: `http://127.0.0.1:${E2E_PORT}`,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: chromiumPath(),
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        '--autoplay-policy=no-user-gesture-required',
      ],
    },
  },
  webServer: {
    command: 'npx tsx server/index.ts',
    url: `http://127.0.0.1:${E2E_PORT}/healthz`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      NODE_ENV: 'production',
      PORT: String(E2E_PORT),
      RTMP_PORT: String(E2E_RTMP_PORT),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      DATA_DIR: path.join(os.tmpdir(), 'golive-e2e-data'),
      PUBLISHER_GRACE_SECONDS: '10',
      ADMIN_TOKEN: E2E_ADMIN_TOKEN,
    },
  },
});
