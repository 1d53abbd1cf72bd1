/**
 * The real server process in the middle of a browser broadcast gets SIGTERM / SIGINT (drain), SIGKILL, or crashes;
 * or `npm start` gets SIGTERM. Each time, the process table (/proc) must show no ffmpeg of that server left:
 * neither its children nor orphans re-parented elsewhere whose command line names its RTMP port.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../testing/harness';
import { alive, descendants, ffmpegOf, makeRecording, spawnServer, startBroadcast, type ServerProcess } from '../testing/process';

function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<'timeout'>((r) => (t = setTimeout(() => r('timeout'), ms)))]).finally(() => clearTimeout(t));
}

describe('the server process and its ffmpeg children', () => {
  let dir: string;
  let file: Buffer;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'golive-sig-'));
    file = await makeRecording(dir, 20);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function withServer(name: string, fn: (srv: ServerProcess) => Promise<void>, opts: { env?: Record<string, string>; command?: string; args?: string[] } = {}) {
    const dataDir = await mkdtemp(path.join(dir, `${name}-`));
    const srv = await spawnServer({ dataDir, ...opts });
    try {
      await fn(srv);
    } finally {
      if (srv.child.exitCode === null && srv.child.signalCode === null) srv.child.kill('SIGKILL');
      await srv.exited;
    }
  }

  /** The server process: its pid when it is the child itself, else the one running server/index.ts below it. */
  function serverPid(srv: ServerProcess): number {
    const me = srv.child.pid!;
    const below = descendants(me).find((p) => p.args.includes('server/index.ts'));
    return below?.pid ?? me;
  }

  async function noFfmpegLeft(srv: ServerProcess, pid: number, ms = 15000): Promise<void> {
    const mark = `127.0.0.1:${srv.ingestRtmpPort}/live/`;
    await waitFor('no ffmpeg of this server left', () => ffmpegOf(pid, mark).length === 0, ms).catch(() => {
      throw new Error(`ffmpeg left: ${JSON.stringify(ffmpegOf(pid, mark))}`);
    });
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} during a browser broadcast: drained (1012 to the page), exit 0, no ffmpeg left`, () =>
      withServer(signal, async (srv) => {
        const s = await srv.createStream();
        const b = await startBroadcast(srv.http, s, file);
        const pid = srv.child.pid!;
        await waitFor('ingest ffmpeg running', () => ffmpegOf(pid, `:${srv.ingestRtmpPort}/live/`).length === 1, 15000);
        srv.child.kill(signal);
        const res = await within(srv.exited, 15000);
        assert.notEqual(res, 'timeout', 'the server exits within SHUTDOWN_TIMEOUT_SECONDS and a margin');
        assert.deepEqual(res, { code: 0, signal: null }, srv.output().slice(-2000));
        const closed = await b.closed;
        assert.equal(closed.code, 1012, 'the page is told the server is restarting');
        await noFfmpegLeft(srv, pid, 5000);
      }));
  }

  test('a drain that cannot finish in SHUTDOWN_TIMEOUT_SECONDS is cut: exit 0 at the bound, no ffmpeg left', async () => {
    // A wedged ingest ffmpeg that ignores SIGTERM holds the drain (the bridge waits 1 s before its SIGKILL), longer than
    // the 0.5 s bound: the cut must SIGKILL it and exit. (A stalled RTMP player no longer holds anything: its slot is
    // freed as soon as Play.Stop is queued and rtmp.close() destroys its socket.)
    const wedged = path.join(dir, 'wedged');
    await mkdir(wedged, { recursive: true });
    const wrapper = path.join(wedged, 'ffmpeg');
    await writeFile(wrapper, '#!/bin/sh\ncase "$*" in *-version*) exec ffmpeg "$@";; esac\ntrap \'\' TERM\nffmpeg "$@"\nexec sleep 30\n');
    await chmod(wrapper, 0o755);
    await withServer('cut', async (srv) => {
      const b = await startBroadcast(srv.http, await srv.createStream(), file);
      const pid = srv.child.pid!;
      const wrapperPid = await waitFor('the wedged ingest running', () => descendants(pid).find((p) => p.args.includes(wrapper))?.pid, 15000);
      const t0 = Date.now();
      srv.child.kill('SIGTERM');
      const res = await within(srv.exited, 10000);
      assert.deepEqual(res, { code: 0, signal: null }, srv.output().slice(-2000));
      assert.ok(Date.now() - t0 < 8000, `cut at the bound (${Date.now() - t0} ms)`);
      assert.ok(srv.logs().some((l) => typeof l.msg === 'string' && l.msg.startsWith('drain not finished')), `the cut is logged: ${srv.output().slice(-3000)}`);
      assert.ok(!srv.logs().some((l) => l.msg === 'drained'), 'the drain did not finish on its own');
      await b.closed;
      await waitFor('the wedged ingest was killed', () => alive([wrapperPid]).length === 0, 5000);
      await noFfmpegLeft(srv, pid, 5000);
    }, { env: { SHUTDOWN_TIMEOUT_SECONDS: '0.5', FFMPEG_PATH: wrapper } });
  });

  test('SIGKILL of the server: its ingest and snapshot ffmpegs notice (stdin closes) and end on their own', async () => {
    // A wrapper that holds snapshot ffmpegs back for 3 s, so one is certainly running when the server is killed.
    const wrapper = path.join(dir, 'ffmpeg-slow-snapshot.sh');
    await writeFile(wrapper, '#!/bin/sh\ncase "$*" in *mjpeg*) sleep 3;; esac\nexec ffmpeg "$@"\n');
    await chmod(wrapper, 0o755);
    await withServer('kill', async (srv) => {
      const s = await srv.createStream();
      await startBroadcast(srv.http, s, file);
      const pid = srv.child.pid!;
      const mark = `:${srv.ingestRtmpPort}/live/`;
      const ingest = await waitFor('ingest ffmpeg running', () => ffmpegOf(pid, mark)[0], 15000);
      await waitFor('stream live', async () => ((await (await fetch(`${srv.http}/api/streams/${s.id}`)).json()) as { live: boolean }).live, 15000);
      // Ask for snapshots until one is being taken (the first asks may find no keyframe part yet).
      const snapshot = await waitFor('a snapshot ffmpeg running', async () => {
        void fetch(`${srv.http}/api/streams/${s.id}/snapshot.jpg`).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 300));
        return descendants(pid).find((p) => p.args.some((a) => a === 'mjpeg'));
      }, 20000, 200);
      srv.child.kill('SIGKILL');
      await srv.exited;
      await waitFor('the ingest ffmpeg ended', () => alive([ingest.pid]).length === 0, 15000);
      await waitFor('the snapshot ffmpeg ended', () => alive([snapshot.pid]).length === 0, 20000);
      await noFfmpegLeft(srv, pid);
    }, { env: { FFMPEG_PATH: wrapper } });
  });

  test('an uncaught exception: logged with context, ffmpeg killed, exit 1', () =>
    withServer('crash', async (srv) => {
      const s = await srv.createStream();
      await startBroadcast(srv.http, s, file);
      const pid = srv.child.pid!;
      await waitFor('ingest ffmpeg running', () => ffmpegOf(pid, `:${srv.ingestRtmpPort}/live/`).length === 1, 15000);
      srv.child.kill('SIGUSR2');
      const res = await within(srv.exited, 15000);
      assert.deepEqual(res, { code: 1, signal: null });
      const fatal = srv.logs().find((l) => l.msg === 'uncaught exception: exiting');
      assert.ok(fatal, srv.output().slice(-2000));
      assert.match(JSON.stringify(fatal.err), /injected crash/);
      assert.equal((fatal.ingest as { ffmpeg: number }).ffmpeg, 1, 'with context: what the server was running');
      await noFfmpegLeft(srv, pid, 5000);
    }, { args: ['--import', 'tsx', '--import', './server/testing/fault-preload.ts', 'server/index.ts', '--api-only'], env: { GOLIVE_TEST_FAULT: 'throw' } }));

  test('an unhandled rejection: logged with context, the server keeps serving', () =>
    withServer('reject', async (srv) => {
      srv.child.kill('SIGUSR2');
      await waitFor('logged', () => srv.logs().find((l) => typeof l.msg === 'string' && l.msg.startsWith('unhandled promise rejection')), 10000);
      assert.match(JSON.stringify(srv.logs().find((l) => typeof l.msg === 'string' && l.msg.startsWith('unhandled promise rejection'))), /injected rejection/);
      assert.equal((await fetch(`${srv.http}/healthz`)).status, 200);
      srv.child.kill('SIGTERM');
      assert.deepEqual(await within(srv.exited, 15000), { code: 0, signal: null });
    }, { args: ['--import', 'tsx', '--import', './server/testing/fault-preload.ts', 'server/index.ts', '--api-only'], env: { GOLIVE_TEST_FAULT: 'reject' } }));

  // `npm start` as a supervisor runs it (the same package.json script; `-- --api-only` skips the page build).
  for (const target of ['npm', 'server'] as const) {
    test(`npm start: SIGTERM to ${target === 'npm' ? 'npm' : 'the server process'} stops npm, the launcher and the server; no ffmpeg left`, () =>
      withServer(`npm-${target}`, async (srv) => {
        const npmPid = srv.child.pid!;
        const pid = serverPid(srv);
        assert.notEqual(pid, npmPid, 'the server runs below npm');
        const s = await srv.createStream();
        const b = await startBroadcast(srv.http, s, file);
        await waitFor('ingest ffmpeg running', () => ffmpegOf(pid, `:${srv.ingestRtmpPort}/live/`).length === 1, 15000);
        const tree = [npmPid, ...descendants(npmPid).map((p) => p.pid)];
        process.kill(target === 'npm' ? npmPid : pid, 'SIGTERM');
        const res = await within(srv.exited, 20000);
        assert.notEqual(res, 'timeout', 'npm exits');
        assert.deepEqual(res, { code: 0, signal: null }, srv.output().slice(-2000));
        assert.equal((await b.closed).code, 1012);
        await waitFor('every process of the tree gone', () => alive(tree).length === 0, 10000).catch(() => {
          throw new Error(`left running: ${JSON.stringify(alive(tree))}`);
        });
        await noFfmpegLeft(srv, pid, 5000);
      }, { command: 'npm', args: ['start', '--', '--api-only'] }));
  }
});
