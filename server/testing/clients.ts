/**
 * Third-party clients against our server, for `npm run interop` (scripts/interop.ts) and the
 * VLC integration test: VLC (`cvlc`) as an RTMP / HLS player that dumps what it received to a
 * file, OBS Studio as a publisher under a private Xvfb, and an RTMP "tap" (a transparent
 * loopback TCP forwarder that decodes the commands going each way, as evidence of what a client
 * asked and what we answered).
 *
 * Every process is started in its own process group and stopped by group (`Group.stop`), so a
 * wrapper (runuser, a shell) never leaves its child behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { decodeAmf0, decodeAmf0Command, type Amf0Value } from '../rtmp/amf0';
import { ChunkReader } from '../rtmp/chunk';
import { HANDSHAKE_SIZE } from '../rtmp/handshake';
import { MessageType } from '../rtmp/messages';

export { onPath } from '../ffmpeg/locate';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** A process (and whatever it starts) in its own process group. */
export interface Group {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | string>;
  /** Signal the whole group; after `graceMs` without exit, SIGKILL it. Resolves when the leader is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

const groups = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of groups) killGroup(c, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

export function spawnGroup(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; extraFds?: number } = {},
): Group {
  const stdio: Array<'ignore' | 'pipe'> = ['ignore', 'pipe', 'pipe', ...Array<'pipe'>(opts.extraFds ?? 0).fill('pipe')];
  const child = spawn(cmd, args, { detached: true, stdio, env: opts.env ?? process.env, cwd: opts.cwd });
  groups.add(child);
  let out = '';
  const collect = (d: Buffer) => {
    out = (out + d.toString()).slice(-200_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const timer = opts.timeoutMs ? setTimeout(() => killGroup(child, 'SIGKILL'), opts.timeoutMs) : null;
  const exited = new Promise<number | string>((resolve) => {
    child.on('error', (err) => {
      out += `\nspawn ${cmd}: ${err.message}`;
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      groups.delete(child);
      // The leader is gone; make sure nothing it started stays behind.
      killGroup(child, 'SIGKILL');
      resolve(code ?? signal ?? -1);
    });
  });
  return {
    child,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      killGroup(child, signal);
      const t = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

// ---- ffprobe evidence -----------------------------------------------------------------------

export interface MediaInfo {
  duration: number;
  video?: { codec: string; width: number; height: number; packets: number; profile?: string };
  audio?: { codec: string; sampleRate: number; channels: number; packets: number };
}

/** Codecs, sizes, packet counts and duration of a file or URL (with -count_packets: reads it all). */
export async function mediaInfo(target: string, opts: { countPackets?: boolean; timeoutMs?: number } = {}): Promise<MediaInfo> {
  const args = ['-v', 'error', ...(opts.countPackets === false ? [] : ['-count_packets'])];
  args.push('-show_entries', 'stream=codec_type,codec_name,profile,width,height,sample_rate,channels,nb_read_packets:format=duration', '-of', 'json', target);
  const p = spawnGroup('ffprobe', args, { timeoutMs: opts.timeoutMs ?? 30000 });
  const chunks: Buffer[] = [];
  p.child.stdout?.on('data', (d: Buffer) => chunks.push(d));
  const code = await p.exited;
  if (code !== 0) throw new Error(`ffprobe ${target} exited ${code}: ${p.output().trim().slice(-500)}`);
  const j = JSON.parse(Buffer.concat(chunks).toString()) as {
    streams: Array<Record<string, string | number | undefined>>;
    format?: { duration?: string };
  };
  const info: MediaInfo = { duration: Number(j.format?.duration ?? 0) };
  for (const s of j.streams) {
    if (s.codec_type === 'video' && !info.video) {
      info.video = { codec: String(s.codec_name), width: Number(s.width), height: Number(s.height), packets: Number(s.nb_read_packets ?? 0), profile: s.profile as string | undefined };
    } else if (s.codec_type === 'audio' && !info.audio) {
      info.audio = { codec: String(s.codec_name), sampleRate: Number(s.sample_rate), channels: Number(s.channels), packets: Number(s.nb_read_packets ?? 0) };
    }
  }
  return info;
}

export function describeMedia(i: MediaInfo): string {
  const v = i.video ? `video ${i.video.codec}${i.video.profile ? ` (${i.video.profile})` : ''} ${i.video.width}x${i.video.height}${i.video.packets ? `, ${i.video.packets} packets` : ''}` : 'no video';
  const a = i.audio ? `audio ${i.audio.codec} ${i.audio.sampleRate} Hz ${i.audio.channels} ch${i.audio.packets ? `, ${i.audio.packets} packets` : ''}` : 'no audio';
  return `${v}; ${a}${i.duration ? `; ${i.duration.toFixed(2)} s` : ''}`;
}

// ---- VLC ------------------------------------------------------------------------------------

export function vlcVersion(): Promise<string> {
  const env = { ...process.env, HOME: '/tmp' };
  const p = isRoot ? spawnGroup('runuser', ['-u', 'nobody', '--', 'cvlc', '--version'], { timeoutMs: 10000, env }) : spawnGroup('cvlc', ['--version'], { timeoutMs: 10000, env });
  return p.exited.then(() => /VLC version (\S+)/.exec(p.output())?.[1] ?? 'unknown');
}

/**
 * VLC plays `url` for `seconds` and remuxes what it receives (no transcoding) into an MPEG-TS file.
 * VLC refuses to run as root: as root it runs as `nobody` (through runuser), so `dir` is made
 * world-writable and `out` must be inside it.
 */
export async function recordWithVlc(url: string, out: string, seconds: number, opts: { dir: string; verbose?: boolean }): Promise<Group> {
  const vlcArgs = [
    '-I', 'dummy', '--no-video-title-show', ...(opts.verbose ? ['-vv'] : ['-q']),
    '--run-time', String(seconds),
    url,
    '--sout', `#std{access=file,mux=ts,dst=${out}}`,
    'vlc://quit',
  ];
  const xdg = [`HOME=${opts.dir}`, `XDG_CONFIG_HOME=${path.join(opts.dir, '.config')}`, `XDG_CACHE_HOME=${path.join(opts.dir, '.cache')}`];
  const env = { ...process.env, ...Object.fromEntries(xdg.map((kv) => kv.split('=') as [string, string])) };
  delete env.DISPLAY;
  if (!isRoot) return spawnGroup('cvlc', vlcArgs, { env, timeoutMs: (seconds + 30) * 1000 });
  await chmod(opts.dir, 0o777);
  return spawnGroup('runuser', ['-u', 'nobody', '--', 'env', ...xdg, 'cvlc', ...vlcArgs], { env, timeoutMs: (seconds + 30) * 1000 });
}

// ---- OBS Studio ---------------------------------------------------------------------------

export function obsVersion(): Promise<string> {
  const p = spawnGroup('obs', ['--version'], { timeoutMs: 15000 });
  return p.exited.then(() => /OBS Studio - (\S+)/.exec(p.output())?.[1] ?? 'unknown');
}

/** A private X server: Xvfb tells us its display number on a pipe (-displayfd). */
export async function startXvfb(): Promise<{ display: string; group: Group }> {
  const group = spawnGroup('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x720x24', '-nolisten', 'tcp', '-noreset'], { extraFds: 1 });
  const fd3 = group.child.stdio[3] as NodeJS.ReadableStream | null;
  const display = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`Xvfb gave no display in 10 s: ${group.output()}`)), 10000);
    fd3?.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        clearTimeout(t);
        resolve(`:${buf.trim()}`);
      }
    });
    void group.exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`Xvfb exited ${code}: ${group.output()}`));
    });
  });
  return { display, group };
}

export interface ObsOptions {
  /** Home of this OBS instance: its whole configuration is written there. */
  home: string;
  /** `rtmp://host:port/app` */
  server: string;
  key: string;
  /** A media file the scene's media source loops (video and audio). */
  loopFile: string;
  display: string;
  width?: number;
  height?: number;
  fps?: number;
  videoKbps?: number;
}

/**
 * Writes a profile (Simple output mode, x264, AAC, custom RTMP service) and a scene collection
 * (one media source looping `loopFile`) into a fresh OBS home, and starts OBS streaming.
 */
export async function startObs(o: ObsOptions): Promise<Group> {
  const cfg = path.join(o.home, '.config', 'obs-studio');
  const profile = path.join(cfg, 'basic', 'profiles', 'interop');
  const scenes = path.join(cfg, 'basic', 'scenes');
  await mkdir(profile, { recursive: true });
  await mkdir(scenes, { recursive: true });
  const w = o.width ?? 640;
  const h = o.height ?? 360;
  const fps = o.fps ?? 30;
  // FirstRun=true: no auto-configuration wizard on a fresh home.
  await writeFile(path.join(cfg, 'global.ini'), [
    '[General]', 'FirstRun=true', 'EnableAutoUpdates=false', 'WarnBeforeStartingStream=false', 'WarnBeforeStoppingStream=false', 'ConfirmOnExit=false',
    '[BasicWindow]', 'SysTrayEnabled=false', 'SysTrayWhenStarted=false',
    '[Basic]', 'Profile=interop', 'ProfileDir=interop', 'SceneCollection=interop', 'SceneCollectionFile=interop', 'ConfigOnNewProfile=false',
    '',
  ].join('\n'));
  await writeFile(path.join(profile, 'basic.ini'), [
    '[General]', 'Name=interop',
    '[Output]', 'Mode=Simple',
    // UseAdvanced makes the preset and the custom x264 options apply: a 2 s GOP (x264's default is 250 frames).
    '[SimpleOutput]', `VBitrate=${o.videoKbps ?? 1000}`, 'ABitrate=128', 'StreamEncoder=x264', 'UseAdvanced=true', 'Preset=veryfast', `x264Settings=keyint=${fps * 2}`,
    '[Video]', `BaseCX=${w}`, `BaseCY=${h}`, `OutputCX=${w}`, `OutputCY=${h}`, 'FPSType=0', `FPSCommon=${fps}`,
    '[Audio]', 'SampleRate=48000', 'ChannelSetup=Stereo',
    '',
  ].join('\n'));
  await writeFile(path.join(profile, 'service.json'), JSON.stringify({ type: 'rtmp_custom', settings: { server: o.server, key: o.key, use_auth: false } }));
  await writeFile(path.join(scenes, 'interop.json'), JSON.stringify({
    name: 'interop',
    current_scene: 'Scene',
    current_program_scene: 'Scene',
    scene_order: [{ name: 'Scene' }],
    sources: [
      {
        id: 'scene', versioned_id: 'scene', name: 'Scene',
        settings: { id_counter: 1, items: [{ name: 'Loop', id: 1, visible: true, locked: false, pos: { x: 0, y: 0 }, scale: { x: 1, y: 1 }, rot: 0, align: 5, bounds_type: 0 }] },
      },
      {
        id: 'ffmpeg_source', versioned_id: 'ffmpeg_source', name: 'Loop',
        settings: { is_local_file: true, local_file: o.loopFile, looping: true, restart_on_activate: true, close_when_inactive: false },
      },
    ],
    transitions: [],
    transition_duration: 300,
  }));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: o.home,
    XDG_CONFIG_HOME: path.join(o.home, '.config'),
    DISPLAY: o.display,
    // Xvfb has no GPU: Mesa's llvmpipe gives OBS the OpenGL 3.3+ it needs.
    LIBGL_ALWAYS_SOFTWARE: '1',
    QT_QPA_PLATFORM: 'xcb',
  };
  delete env.WAYLAND_DISPLAY;
  return spawnGroup('obs', ['--startstreaming', '--multi', '--disable-missing-files-check', '--collection', 'interop', '--profile', 'interop'], { env, cwd: o.home });
}

// ---- RTMP tap ---------------------------------------------------------------------------------

export interface TapEvent {
  dir: 'c2s' | 's2c';
  /** Command or data name (`connect`, `_result`, `onStatus`, `@setDataFrame`…) or a control message. */
  name: string;
  transactionId?: number;
  /** onStatus code, _error description, or a control value. */
  detail?: string;
  error?: boolean;
}

function summarize(v: Amf0Value): string | undefined {
  if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
    const o = v as Record<string, Amf0Value>;
    if (typeof o.code === 'string') return o.code;
    if (typeof o.description === 'string') return o.description;
  }
  return typeof v === 'string' ? v : undefined;
}

/** Decodes one direction of a connection: the handshake is skipped, then chunks are read. */
class DirectionParser {
  private skip = 1 + 2 * HANDSHAKE_SIZE;
  private readonly reader = new ChunkReader({ maxMessageSize: 64 * 1024 * 1024, maxChunkStreams: 1024 });
  private broken = false;
  constructor(private readonly dir: 'c2s' | 's2c', private readonly events: TapEvent[]) {}
  push(data: Buffer): void {
    if (this.broken) return;
    if (this.skip > 0) {
      const n = Math.min(this.skip, data.length);
      this.skip -= n;
      data = data.subarray(n);
      if (data.length === 0) return;
    }
    try {
      for (const m of this.reader.push(data)) this.message(m.type, m.payload);
    } catch (err) {
      this.broken = true;
      this.events.push({ dir: this.dir, name: 'unparseable', detail: (err as Error).message, error: true });
    }
  }
  private message(type: number, payload: Buffer): void {
    const ev = (e: Omit<TapEvent, 'dir'>): void => {
      this.events.push({ dir: this.dir, ...e });
    };
    switch (type) {
      case MessageType.SetChunkSize:
        return ev({ name: 'SetChunkSize', detail: String(payload.readUInt32BE(0)) });
      case MessageType.WindowAckSize:
        return ev({ name: 'WindowAckSize', detail: String(payload.readUInt32BE(0)) });
      case MessageType.SetPeerBandwidth:
        return ev({ name: 'SetPeerBandwidth', detail: String(payload.readUInt32BE(0)) });
      case MessageType.UserControl:
        return ev({ name: 'UserControl', detail: String(payload.readUInt16BE(0)) });
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3: {
        const cmd = decodeAmf0Command(type === MessageType.CommandAmf3 ? payload.subarray(1) : payload);
        const detail = summarize(cmd.args[0]);
        const error = cmd.name === '_error' || (cmd.name === 'onStatus' && (cmd.args[0] as { level?: string } | undefined)?.level === 'error');
        return ev({ name: cmd.name, transactionId: cmd.transactionId, detail, error });
      }
      case MessageType.DataAmf0:
      case MessageType.DataAmf3: {
        const values = decodeAmf0(type === MessageType.DataAmf3 ? payload.subarray(1) : payload);
        const name = values.filter((v) => typeof v === 'string').slice(0, 2).join(' ');
        return ev({ name: name || 'data' });
      }
      default:
        return; // media and acknowledgements are not listed
    }
  }
}

export interface RtmpTap {
  /** `rtmp://127.0.0.1:<tap port>` to give the client instead of the server's. */
  url: (appAndName: string) => string;
  port: number;
  /** Events of every connection so far, in order, per connection. */
  connections: TapEvent[][];
  close(): Promise<void>;
}

/** A loopback forwarder to `targetPort` that records the RTMP commands both ways. Bytes pass unchanged. */
export async function startRtmpTap(targetPort: number): Promise<RtmpTap> {
  const connections: TapEvent[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const events: TapEvent[] = [];
    connections.push(events);
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    const c2s = new DirectionParser('c2s', events);
    const s2c = new DirectionParser('s2c', events);
    client.on('data', (d: Buffer) => {
      c2s.push(d);
      if (!upstream.write(d)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (d: Buffer) => {
      s2c.push(d);
      if (!client.write(d)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    // A client that hangs up right after its last command (OBS after deleteStream) would make us miss
    // our replies to it: let the server's side finish for a moment so they are still decoded.
    const linger = (s: net.Socket) => {
      s.end();
      setTimeout(() => s.destroy(), 1000).unref();
    };
    client.on('close', () => linger(upstream));
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: (appAndName) => `rtmp://127.0.0.1:${port}/${appAndName.replace(/^\/+/, '')}`,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `connect, createStream, play…` for what the client sent; errors we answered, if any. */
export function tapSummary(events: TapEvent[]): { client: string; server: string; errors: TapEvent[] } {
  const fmt = (e: TapEvent) => (e.detail && !['connect', 'createStream'].includes(e.name) ? `${e.name}(${e.detail})` : e.name);
  return {
    client: events.filter((e) => e.dir === 'c2s').map(fmt).join(', '),
    server: events.filter((e) => e.dir === 's2c').map(fmt).join(', '),
    errors: events.filter((e) => e.error),
  };
}
