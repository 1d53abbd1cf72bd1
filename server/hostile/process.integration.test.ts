/**
 * Issue 14 item 15 and its neighbours: how the server process ends, seen from the process table.
 *
 * - SIGTERM to `npm run serve -- --api-only` (npm → sh → tsx → node, as `npm start` is; what a supervisor or a
 *   container runtime sends to the process it started): nothing of the tree may stay behind, neither the
 *   server nor its ingest ffmpeg. `HOSTILE_LONG=1` does the same to the real `npm start` (which builds first).
 * - SIGKILL of the server process itself: its ingest ffmpeg must not outlive it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { createStreamAt, TEST_ADMIN_TOKEN } from '../testing/harness';
import { testWebm } from '../testing/media';
import { descendantPids, ROOT, startServerProcess } from './server-process';
import { LONG } from './suite';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** A browser-ingest broadcast over /ingest sending the test WebM in 250 ms pieces, looping, until stopped. */
async function broadcast(http: string, stream: { id: string; key: string }): Promise<{ stop: () => void; started: Promise<void> }> {
  const file = await testWebm(6);
  const ws = new WebSocket(`${http.replace('http', 'ws')}/ingest`);
  let stopped = false;
  let resolveStarted!: () => void;
  const started = new Promise<void>((r) => (resolveStarted = r));
  ws.on('error', () => undefined);
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(data.toString()) as Record<string, unknown>;
    if (m.type === 'ping') ws.send(JSON.stringify({ type: 'pong', serverTime: m.serverTime, clientTime: Date.now() }));
    if (m.type === 'started') {
      resolveStarted();
      void (async () => {
        const piece = Math.ceil(file.length / 24);
        for (let i = 0; !stopped && ws.readyState === WebSocket.OPEN && i < 24; i++) {
          ws.send(file.subarray(i * piece, (i + 1) * piece));
          await sleep(250);
        }
      })();
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'start', v: 1, streamId: stream.id, key: stream.key, mimeType: 'video/webm;codecs=h264,opus', captureStart: Date.now() }));
  return {
    started,
    stop: () => {
      stopped = true;
      ws.terminate();
    },
  };
}

async function waitFfmpeg(root: number, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ff = descendantPids(root).filter((p) => comm(p) === 'ffmpeg');
    if (ff.length) return ff;
    await sleep(200);
  }
  return [];
}

async function sigtermWrapper(script: string[], startTimeoutMs: number): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'golive-hostile-npm-'));
  const npm = spawn('npm', script, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: '0', RTMP_PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', ADMIN_TOKEN: TEST_ADMIN_TOKEN },
  });
  let out = '';
  let httpPort = 0;
  npm.stdout.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-100000);
    const m = /"port":(\d+),"host"[^\n]*HTTP listening/.exec(out);
    if (m) httpPort = Number(m[1]);
  });
  npm.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-100000)));
  let tree: number[] = [];
  try {
    const deadline = Date.now() + startTimeoutMs;
    while (!httpPort && Date.now() < deadline && npm.exitCode === null) await sleep(100);
    assert.ok(httpPort, `the server did not start under npm: ${out.slice(-2000)}`);
    const http = `http://127.0.0.1:${httpPort}`;
    const stream = await createStreamAt(http, 'signal test');
    const b = await broadcast(http, stream);
    await b.started;
    const ffmpegs = await waitFfmpeg(npm.pid!, 10000);
    assert.ok(ffmpegs.length > 0, 'no ingest ffmpeg started');
    tree = descendantPids(npm.pid!);
    const names = tree.map((p) => `${comm(p)}(${p})`).join(' ');
    // What a supervisor does: signal the process it started, only that one.
    npm.kill('SIGTERM');
    const t0 = Date.now();
    while (Date.now() - t0 < 15000 && (tree.some(alive) || npm.exitCode === null)) await sleep(200);
    b.stop();
    const left = tree.filter(alive);
    const portOpen = await fetch(`${http}/healthz`, { signal: AbortSignal.timeout(2000) }).then(() => true, () => false);
    assert.deepEqual(
      left.map((p) => comm(p)),
      [],
      `15 s after SIGTERM to npm (tree: ${names}), still running: ${left.map((p) => `${comm(p)}(${p})`).join(' ')}; HTTP port ${portOpen ? 'still answers' : 'closed'}`,
    );
    assert.equal(portOpen, false, 'the HTTP port still answers after SIGTERM');
  } finally {
    // Whatever this test started and left behind (the whole tree, also when it failed before looking at it).
    for (const p of [...tree, ...descendantPids(npm.pid!), npm.pid!]) if (alive(p)) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    await rm(dataDir, { recursive: true, force: true });
  }
}

test('item 15: SIGTERM to `npm run serve` ends the whole tree (server, ingest ffmpeg) within 15 s', async () => {
  await sigtermWrapper(['run', 'serve', '--', '--api-only'], 30000);
});

if (LONG) {
  test('item 15 (long): SIGTERM to `npm start` (next build, then the server) ends the whole tree within 15 s', async () => {
    await sigtermWrapper(['start'], 600000);
  });
}

test('SIGKILL of the server: its ingest ffmpeg does not outlive it', async () => {
  const server = await startServerProcess();
  let ffmpegs: number[] = [];
  try {
    const stream = await server.createStream('kill test');
    const b = await broadcast(server.http, stream);
    await b.started;
    ffmpegs = await waitFfmpeg(server.pid, 10000);
    assert.ok(ffmpegs.length > 0, 'no ingest ffmpeg started');
    server.child.kill('SIGKILL');
    await server.exited;
    const t0 = Date.now();
    while (Date.now() - t0 < 10000 && ffmpegs.some(alive)) await sleep(200);
    b.stop();
    assert.deepEqual(ffmpegs.filter(alive), [], `ffmpeg ${ffmpegs.filter(alive).join(', ')} still running 10 s after SIGKILL of the server`);
  } finally {
    for (const p of ffmpegs) if (alive(p)) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    await server.stop();
  }
});
