/**
 * docs/deploy/golive.service: systemd-analyze accepts it, and what systemd would do with it works against a real
 * server: its ExecStart (the launcher; `--api-only` added, as the pages need a build), its ExecReload with the
 * launcher as $MAINPID (the TLS certificate is reloaded, the process stays), its KillSignal (drained, exit 0 within
 * TimeoutStopSec).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { ROOT_DIR } from '../app';
import { makeServerCert, makeTestCa, type TestCa, type TestCert } from '../testing/certs';
import { TEST_ADMIN_TOKEN, waitFor } from '../testing/harness';
import { httpsRequest } from '../testing/https-client';

const UNIT = path.join(ROOT_DIR, 'docs/deploy/golive.service');
let dir: string;
let ca: TestCa;
let first: TestCert;
let second: TestCert;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'golive-unit-'));
  ca = await makeTestCa(dir);
  first = await makeServerCert(ca, 'first');
  second = await makeServerCert(ca, 'second');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `Key=value` lines of the [Service] section (a key may repeat). */
function serviceLines(): Array<[string, string]> {
  const text = readFileSync(UNIT, 'utf8');
  const service = text.slice(text.indexOf('[Service]'), text.indexOf('[Install]'));
  return service
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
}
const one = (key: string) => {
  const v = serviceLines().filter(([k]) => k === key);
  assert.equal(v.length, 1, `one ${key}= in the unit`);
  return v[0][1];
};

test('systemd-analyze verify accepts the unit', () => {
  const copy = path.join(dir, 'golive.service');
  copyFileSync(UNIT, copy);
  const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
  assert.equal(r.error, undefined, 'systemd-analyze is installed (Debian: apt-get install systemd)');
  // Only the machine-specific parts may be missing here (the golive user, /opt/golive).
  const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() && !/golive.*(user|group)|\/opt\/golive|WorkingDirectory/i.test(l));
  assert.deepEqual(problems, [], `systemd-analyze verify: ${r.stdout}${r.stderr}`);
});

test("its ExecStart runs the server; ExecReload reloads the certificate; KillSignal drains and exits 0", async () => {
  copyFileSync(first.certFile, path.join(dir, 'cert.pem'));
  copyFileSync(first.keyFile, path.join(dir, 'key.pem'));
  const [exe, ...argv] = one('ExecStart').split(' ');
  const env: Record<string, string> = {};
  for (const [k, v] of serviceLines()) if (k === 'Environment') env[v.slice(0, v.indexOf('='))] = v.slice(v.indexOf('=') + 1);
  const child = spawn(exe, [...argv, '--api-only'], {
    cwd: ROOT_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, DATA_DIR: path.join(dir, 'data'), HOST: '127.0.0.1', PORT: '0', RTMP_PORT: '0', LOG_LEVEL: 'info', ADMIN_TOKEN: TEST_ADMIN_TOKEN, TLS_CERT: path.join(dir, 'cert.pem'), TLS_KEY: path.join(dir, 'key.pem') },
  });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const port = await waitFor('HTTPS listening', () => Number(/"port":(\d+)[^\n]*HTTP listening on https/.exec(log)?.[1] ?? 0), 30000);
    const base = `https://127.0.0.1:${port}`;
    const fp = (c: TestCert) => new X509Certificate(c.cert).fingerprint256;
    assert.equal((await httpsRequest(`${base}/healthz`, { ca: ca.ca })).fingerprint, fp(first));

    copyFileSync(second.certFile, path.join(dir, 'cert.pem'));
    copyFileSync(second.keyFile, path.join(dir, 'key.pem'));
    const reload = one('ExecReload').replace('$MAINPID', String(child.pid)).split(' ');
    assert.equal(spawnSync(reload[0], reload.slice(1)).status, 0, 'ExecReload ran');
    await waitFor('the new certificate', async () => (await httpsRequest(`${base}/healthz`, { ca: ca.ca })).fingerprint === fp(second), 10000, 100);
    assert.equal(child.exitCode, null, `still running after reload: ${log.slice(-1000)}`);

    const signal = one('KillSignal') as NodeJS.Signals;
    const stopSeconds = Number(one('TimeoutStopSec'));
    child.kill(signal);
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), stopSeconds * 1000))]);
    assert.equal(code, 0, log.slice(-1000));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
