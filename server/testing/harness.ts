/**
 * Integration-test harness: the real server (without the Next pages) on loopback ports
 * chosen by the OS, and real ffmpeg processes that are always stopped afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startServer, type RunningServer, type StartOptions } from '../app';
import { loadConfig } from '../config';
import { createLogger } from '../log';

/** The operator token every test server runs with (ADMIN_TOKEN), unless a test sets its own. */
export const TEST_ADMIN_TOKEN = 'test-operator-token-0123456789';

/** Headers of an operator's JSON API call. */
export function operatorHeaders(token = TEST_ADMIN_TOKEN): Record<string, string> {
  return { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
}

export interface TestServer extends RunningServer {
  http: string;
  rtmpUrl: string;
  dataDir: string;
  createStream(title?: string): Promise<{ id: string; key: string; urls: Record<string, string> }>;
  stop(): Promise<void>;
}

export async function startTestServer(env: Record<string, string> = {}, opts: Pick<StartOptions, 'recordOpenFile' | 'recordRetryMs'> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'golive-test-'));
  const config = loadConfig({ PORT: '0', RTMP_PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'silent', ADMIN_TOKEN: TEST_ADMIN_TOKEN, ...env });
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? config.logLevel, false);
  const running = await startServer({ config, logger, withNext: false, ...opts });
  const http = `http://127.0.0.1:${running.httpPort}`;
  return {
    ...running,
    http,
    rtmpUrl: `rtmp://127.0.0.1:${running.rtmpPort}/live`,
    dataDir,
    createStream(title?: string) {
      return createStreamAt(http, title, config.adminToken);
    },
    async stop() {
      await running.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * POST /api/streams on the server at `http` (`http://host:port`): the one place tests create streams
 * (TestServer.createStream, and the hostile suite's server in a child process).
 */
export async function createStreamAt(http: string, title?: string, token = TEST_ADMIN_TOKEN): Promise<{ id: string; key: string; urls: Record<string, string> }> {
  const res = await fetch(`${http}/api/streams`, { method: 'POST', headers: operatorHeaders(token), body: JSON.stringify(title ? { title } : {}) });
  if (res.status !== 201) throw new Error(`POST /api/streams: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; key: string; urls: Record<string, string> };
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export interface Proc {
  child: ChildProcess;
  stdout: () => Buffer;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Spawn a tool (ffmpeg, ffprobe), collecting its output; it is killed when the test process exits. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; stdin?: 'pipe' | 'ignore' } = {}): Proc {
  const child = spawn(cmd, args, { stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
  children.add(child);
  const out: Buffer[] = [];
  let err = '';
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-20000);
  });
  const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
  const exited = new Promise<number | string>((resolve) => {
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      children.delete(child);
      resolve(code ?? signal ?? -1);
    });
  });
  return {
    child,
    stdout: () => Buffer.concat(out),
    stderr: () => err,
    exited,
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** ffmpeg publishing a synthetic H.264 + AAC stream in real time (`-re`). */
export function publishTestStream(
  url: string,
  opts: {
    seconds?: number; size?: string; fps?: number; gop?: number; videoBitrate?: string; extra?: string[];
    /** Media seconds sent per wall-clock second (ffmpeg -readrate); 1 is real time. Tests that check what was recorded
     * or packaged, not real-time behaviour, send faster to keep the suite short. */
    speed?: number;
  } = {},
): Proc {
  const fps = opts.fps ?? 25;
  const pace = opts.speed && opts.speed !== 1 ? ['-readrate', String(opts.speed)] : ['-re'];
  const args = [
    '-hide_banner', '-loglevel', 'error', ...pace,
    '-f', 'lavfi', '-i', `testsrc=size=${opts.size ?? '320x240'}:rate=${fps}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    ...(opts.seconds ? ['-t', String(opts.seconds)] : []),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
    '-g', String(opts.gop ?? fps), '-keyint_min', String(opts.gop ?? fps),
    ...(opts.videoBitrate ? ['-b:v', opts.videoBitrate, '-maxrate', opts.videoBitrate, '-bufsize', opts.videoBitrate] : []),
    '-c:a', 'aac', '-b:a', '64k',
    ...(opts.extra ?? []),
    '-f', 'flv', url,
  ];
  return run('ffmpeg', args);
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 15000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** Wait until the stream is live in the API. */
export function waitLive(server: TestServer, id: string, timeoutMs = 15000) {
  return waitFor(`stream ${id} live`, async () => {
    const res = await fetch(`${server.http}/api/streams/${id}`);
    if (!res.ok) return null;
    const body = (await res.json()) as { live: boolean; video: unknown; audio: unknown };
    return body.live && body.video && body.audio ? body : null;
  }, timeoutMs);
}

/** ffprobe a URL: codec, size and sample rate of each stream. */
export async function probe(url: string, timeoutMs = 20000): Promise<Array<Record<string, string | number>>> {
  const p = run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,width,height,sample_rate,channels', '-of', 'json', url], { timeoutMs });
  const code = await p.exited;
  if (code !== 0) throw new Error(`ffprobe ${url} exited ${code}: ${p.stderr()}`);
  return (JSON.parse(p.stdout().toString()) as { streams: Array<Record<string, string | number>> }).streams;
}
