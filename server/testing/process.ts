/**
 * The real server as a separate process (signals, crashes, `npm start`), and what is left of it in the process
 * table (/proc) afterwards. Tests only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import WebSocket from 'ws';
import { operatorHeaders, run, TEST_ADMIN_TOKEN, waitFor } from './harness';

export interface ServerProcess {
  child: ChildProcess;
  http: string;
  httpPort: number;
  rtmpPort: number;
  /** The loopback RTMP port our ingest ffmpeg publishes to (its command line names it). */
  ingestRtmpPort: number;
  /** Everything written on stdout and stderr so far. */
  output(): string;
  /** JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** A stream on this server, made the way the harness's `createStream()` makes one. */
  createStream(): Promise<{ id: string; key: string }>;
}

const processes = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of processes) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/**
 * Spawn `command args` (by default the server: `node --import tsx server/index.ts --api-only`) with PORT=0 and
 * RTMP_PORT=0, and wait until both listeners have logged their port.
 */
export async function spawnServer(opts: { dataDir: string; env?: Record<string, string>; command?: string; args?: string[] }): Promise<ServerProcess> {
  const command = opts.command ?? process.execPath;
  const args = opts.args ?? ['--import', 'tsx', 'server/index.ts', '--api-only'];
  const env = { ...process.env, PORT: '0', RTMP_PORT: '0', HOST: '127.0.0.1', DATA_DIR: opts.dataDir, LOG_LEVEL: 'info', ADMIN_TOKEN: TEST_ADMIN_TOKEN, ...opts.env };
  delete (env as Record<string, string | undefined>).NODE_TEST_CONTEXT;
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  processes.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      processes.delete(child);
      resolve({ code, signal });
    }),
  );
  const logs = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  const portOf = (what: RegExp) => logs().find((l) => typeof l.msg === 'string' && what.test(l.msg))?.port as number | undefined;
  let ports: { http: number; rtmp: number; internal: number };
  try {
    ports = await waitFor('the server logs its ports', () => {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${out.slice(-2000)}`);
      const h = portOf(/^HTTP listening/);
      const r = portOf(/^RTMP listening/);
      const i = logs().find((l) => typeof l.msg === 'string' && /^RTMP listening/.test(l.msg))?.internalPort as number | undefined;
      return h && r && i ? { http: h, rtmp: r, internal: i } : null;
    }, 60000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${out.slice(-2000)}`);
  }
  const http = `http://127.0.0.1:${ports.http}`;
  return {
    child,
    http,
    httpPort: ports.http,
    rtmpPort: ports.rtmp,
    ingestRtmpPort: ports.internal,
    output: () => out,
    logs,
    exited,
    async createStream() {
      // Mirrors TestServer.createStream() in harness.ts (keep the two in step).
      const res = await fetch(`${http}/api/streams`, { method: 'POST', headers: operatorHeaders(env.ADMIN_TOKEN), body: '{}' });
      if (res.status !== 201) throw new Error(`POST /api/streams: ${res.status} ${await res.text()}`);
      return (await res.json()) as { id: string; key: string };
    },
  };
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** One-letter state from /proc/<pid>/stat (Z: zombie). */
  state: string;
  comm: string;
  args: string[];
}

/** Every process in /proc now (those that vanish while read are skipped). */
export function processTable(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const rest = stat.slice(close + 2).split(' ');
      const args = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push({ pid: Number(d), ppid: Number(rest[1]), state: rest[0], comm, args });
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** Living (not zombie) processes among these pids. */
export function alive(pids: number[]): ProcInfo[] {
  const want = new Set(pids);
  return processTable().filter((p) => want.has(p.pid) && p.state !== 'Z');
}

/** Living processes below `pid` (children, grandchildren...). */
export function descendants(pid: number): ProcInfo[] {
  const table = processTable().filter((p) => p.state !== 'Z');
  const found: ProcInfo[] = [];
  let frontier = new Set([pid]);
  while (frontier.size) {
    const next = new Set<number>();
    for (const p of table) if (frontier.has(p.ppid)) {
      found.push(p);
      next.add(p.pid);
    }
    frontier = next;
  }
  return found;
}

/**
 * ffmpeg processes that belong to a server: children of `serverPid`, or anywhere in the table (re-parented orphans)
 * with `mark` on their command line (the ingest ffmpeg's RTMP URL names the server's RTMP port).
 */
export function ffmpegOf(serverPid: number, mark: string): ProcInfo[] {
  return processTable().filter((p) => p.state !== 'Z' && (p.comm === 'ffmpeg' || p.args.some((a) => a.endsWith('ffmpeg'))) && (p.ppid === serverPid || p.args.some((a) => a.includes(mark))));
}

/** A Matroska H.264 recording like MediaRecorder's, made once by ffmpeg. */
export async function makeRecording(dir: string, seconds = 20): Promise<Buffer> {
  const rec = path.join(dir, 'rec.mkv');
  const mk = run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=20', '-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '20', '-f', 'matroska', '-y', rec], { timeoutMs: 120000 });
  if ((await mk.exited) !== 0) throw new Error(`ffmpeg: ${mk.stderr()}`);
  return readFile(rec);
}

/** A browser broadcast: start, then the first `bytes` of the recording at once and the rest paced; resolves once started. */
export async function startBroadcast(http: string, s: { id: string; key: string }, file: Buffer, bytes = 200_000): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`${http.replace('http', 'ws')}/ingest`);
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('close', () => j(new Error('ingest socket closed before it opened')));
  });
  let started = false;
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const msg = JSON.parse(data.toString()) as Record<string, unknown>;
    if (msg.type === 'ping' && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'pong', serverTime: msg.serverTime, clientTime: Date.now() }));
    if (msg.type === 'started') started = true;
  });
  ws.send(JSON.stringify({ type: 'start', v: 1, streamId: s.id, key: s.key, mimeType: 'video/webm;codecs=h264', captureStart: Date.now() }));
  // Media after `started`, as the page does.
  await waitFor('started', () => started, 15000, 20);
  ws.send(file.subarray(0, bytes));
  // The rest at a steady pace (the server closes a broadcast that goes quiet), until the socket closes.
  let offset = bytes;
  const pace = setInterval(() => {
    if (ws.readyState !== WebSocket.OPEN || offset >= file.length) return clearInterval(pace);
    ws.send(file.subarray(offset, offset + 20_000));
    offset += 20_000;
  }, 250);
  void closed.then(() => clearInterval(pace));
  return { ws, closed };
}
