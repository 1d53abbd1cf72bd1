/**
 * The real server process gets SIGTERM / SIGINT in the middle of a browser broadcast:
 * it exits promptly and leaves no ffmpeg behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { run, waitFor } from '../testing/harness';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** PIDs of ffmpeg processes whose parent is `ppid`. */
async function ffmpegChildren(ppid: number): Promise<number[]> {
  const p = run('ps', ['-eo', 'pid=,ppid=,comm=']);
  await p.exited;
  return p
    .stdout()
    .toString()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 3 && Number(f[1]) === ppid && f[2] === 'ffmpeg')
    .map((f) => Number(f[0]));
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} during a browser broadcast: the server exits and no ffmpeg is left`, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-sig-'));
    const [port, rtmpPort] = [await freePort(), await freePort()];
    const env = { ...process.env, PORT: String(port), RTMP_PORT: String(rtmpPort), HOST: '127.0.0.1', DATA_DIR: dir, LOG_LEVEL: 'warn' };
    const server = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts', '--api-only'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    server.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => server.on('close', (code) => r(code)));
    try {
      const http = `http://127.0.0.1:${port}`;
      await waitFor('server up', async () => (await fetch(`${http}/healthz`)).ok, 20000);
      const s = (await (await fetch(`${http}/api/streams`, { method: 'POST' })).json()) as { id: string; key: string };
      const rec = path.join(dir, 'a.mkv');
      const mk = run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=20', '-t', '20', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '20', '-f', 'matroska', '-y', rec]);
      assert.equal(await mk.exited, 0);
      const file = await readFile(rec);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ingest`);
      const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'start', v: 1, streamId: s.id, key: s.key, mimeType: 'video/webm;codecs=h264', captureStart: Date.now() }));
      ws.send(file.subarray(0, 200_000));
      const pid = server.pid!;
      await waitFor('ingest ffmpeg running', async () => (await ffmpegChildren(pid)).length === 1, 15000);
      server.kill(signal);
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10000))]);
      assert.notEqual(code, 'hung', 'the server exits within 10 s');
      assert.equal(code, 0, stderr);
      assert.equal(await closed, 4503, 'the page is told the server is stopping');
      assert.deepEqual(await ffmpegChildren(pid), []);
      // No ffmpeg re-parented to init either: none still pushing to this server's RTMP port.
      const ps = run('ps', ['-eo', 'args=']);
      await ps.exited;
      assert.ok(!ps.stdout().toString().includes(`127.0.0.1:${rtmpPort}/live/`), 'no orphan ffmpeg');
    } finally {
      if (server.exitCode === null) server.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
}
