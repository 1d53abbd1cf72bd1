/**
 * Browser ingest: the /ingest WebSocket (docs/ingest-protocol.md). Each broadcast gets one
 * ffmpeg that turns MediaRecorder chunks into RTMP for our own relay.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { ingestArgs, type FfmpegProgress } from '../ffmpeg/args';
import type { FfmpegInfo } from '../ffmpeg/locate';
import type { Hub } from '../media/hub';
import { RateMeter } from '../media/rate';
import type { StreamRegistry } from '../media/registry';
import { FfmpegBridge } from './bridge';
import { Close, MAX_MESSAGE_BYTES, closeReason, mediaFormat, parseClientMessage, startsMediaFile, type StartMessage } from './protocol';

export interface IngestLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface IngestDeps {
  hub: Hub;
  registry: StreamRegistry;
  ffmpeg: FfmpegInfo;
  /** rtmp://<loopback>:<port>/live: where our ffmpeg pushes. */
  rtmpBase: () => string;
  /**
   * The RTMP publish name our ffmpeg uses for a stream, valid until `revoke` (when that ffmpeg is gone). Default: a
   * session key from the registry, so the stream's own key never shows on ffmpeg's command line.
   */
  publishName?: (id: string) => { key: string; revoke: () => void };
  urls: (req: IncomingMessage, id: string) => { watch: string; hls: string; rtmpPlay: string };
  log: IngestLog;
  /** ffmpeg's stdin backlog above which the socket is paused. */
  maxBufferedBytes?: number;
}

const PING_MS = 2000;
const START_TIMEOUT_MS = 10_000;
/** An ingest that received nothing for this long may be replaced by a new connection for its stream. */
const STALE_MS = 3000;

class IngestSession {
  private revokePublishName: () => void = () => undefined;
  state: 'await-start' | 'live' | 'stopping' | 'closed' = 'await-start';
  streamId = '';
  bridge: FfmpegBridge | null = null;
  lastData = Date.now();
  private bytes = 0;
  private meter = new RateMeter();
  private progress: FfmpegProgress | null = null;
  private offset: { value: number; rtt: number } | null = null;
  private firstChunk = true;
  private head: Buffer | null = null;
  private format: { input: 'webm' | 'mp4'; transcode: boolean } | null = null;
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private liveSince = 0;

  constructor(
    private readonly service: IngestService,
    private readonly ws: WebSocket,
    private readonly req: IncomingMessage,
  ) {
    const deps = service.deps;
    this.timers.push(
      setTimeout(() => {
        if (this.state === 'await-start') this.close(Close.BadRequest, 'no start message within 10 s');
      }, START_TIMEOUT_MS),
      setInterval(() => this.ping(), PING_MS),
      setInterval(() => this.sendStats(), 1000),
    );
    ws.on('message', (data: RawData, isBinary: boolean) => {
      try {
        if (isBinary) this.onMedia(toBuffer(data));
        else void this.onText(toBuffer(data).toString('utf8'));
      } catch (err) {
        deps.log.error({ err, stream: this.streamId }, 'ingest message failed');
        this.close(Close.FfmpegFailed, 'internal error');
      }
    });
    ws.on('close', () => this.onSocketClosed());
    ws.on('error', () => undefined);
    this.ping();
  }

  get clockOffset(): number | null {
    return this.offset?.value ?? null;
  }

  private send(msg: object): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private ping(): void {
    this.send({ type: 'ping', serverTime: Date.now() });
  }

  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    if (code !== Close.Normal) this.send({ type: 'error', code, message: reason });
    this.state = 'closed';
    this.clearTimers();
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, closeReason(reason));
    this.bridge?.end();
  }

  /** Another connection takes this stream over, or the server stops. */
  terminate(code: number, reason: string): void {
    this.close(code, reason);
    this.bridge?.kill();
  }

  private clearTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private async onText(text: string): Promise<void> {
    let msg;
    try {
      msg = parseClientMessage(text);
    } catch (err) {
      this.close(Close.BadRequest, (err as Error).message);
      return;
    }
    switch (msg.type) {
      case 'pong': {
        const now = Date.now();
        const rtt = now - msg.serverTime;
        if (rtt < 0 || rtt > 60_000) return;
        const value = msg.clientTime - (msg.serverTime + now) / 2;
        if (!this.offset || rtt <= this.offset.rtt) this.offset = { value, rtt };
        return;
      }
      case 'stop':
        this.stop();
        return;
      case 'start':
        if (this.state !== 'await-start') {
          this.close(Close.BadRequest, 'start sent twice');
          return;
        }
        await this.start(msg);
        return;
    }
  }

  private async start(msg: StartMessage): Promise<void> {
    const { deps } = this.service;
    const ffmpeg = deps.ffmpeg;
    if (!ffmpeg.found) {
      this.close(Close.Unavailable, `browser ingest unavailable: no ffmpeg on the server`);
      return;
    }
    const record = deps.registry.verifyKey(msg.key);
    if (!record || record.id !== msg.streamId) {
      deps.log.warn({ stream: msg.streamId }, 'ingest refused: wrong stream key');
      this.close(Close.Unauthorized, 'wrong stream key for this stream: create a new stream');
      return;
    }
    const format = mediaFormat(msg.mimeType);
    if (!format) {
      this.close(Close.Unsupported, `unsupported recording format ${msg.mimeType.slice(0, 60)}: use WebM or MP4`);
      return;
    }
    this.streamId = msg.streamId;
    this.state = 'live'; // reserve the slot while we check for others
    const claimed = await this.service.claim(this);
    if (!claimed.ok) {
      this.state = 'await-start';
      this.close(Close.Conflict, claimed.reason);
      return;
    }
    if (this.ws.readyState !== this.ws.OPEN) {
      this.service.release(this);
      return;
    }
    if (msg.title !== undefined && msg.title.trim()) deps.registry.setTitle(msg.streamId, msg.title);
    this.format = format;
    const captureStart = msg.captureStart;
    deps.hub.expectCaptureClock(msg.streamId, () => captureStart - (this.clockOffset ?? 0));
    const publish = deps.publishName?.(record.id) ?? deps.registry.issueSessionKey(record.id);
    this.revokePublishName = publish.revoke;
    const args = ingestArgs({ input: format.input, transcode: format.transcode, output: `${deps.rtmpBase()}/${publish.key}`, ffmpegMajor: ffmpeg.major });
    this.bridge = new FfmpegBridge({
      ffmpegPath: ffmpeg.path,
      args,
      onProgress: (p) => (this.progress = p),
      onExit: ({ code, signal, error }) => this.onBridgeExit(code, signal, error),
    });
    this.liveSince = Date.now();
    deps.log.info({ stream: msg.streamId, pid: this.bridge.pid, mimeType: msg.mimeType, transcode: format.transcode }, 'browser ingest started');
    this.send({ type: 'started', streamId: msg.streamId, transcode: format.transcode, urls: deps.urls(this.req, msg.streamId) });
  }

  private onMedia(chunk: Buffer): void {
    if (this.state === 'stopping' || this.state === 'closed') return;
    if (this.state !== 'live' || !this.bridge || !this.format) {
      this.close(Close.BadRequest, 'media sent before the start message was accepted');
      return;
    }
    if (this.firstChunk) {
      // Decide on the first 8 bytes, however the recorder split them.
      chunk = this.head ? Buffer.concat([this.head, chunk]) : chunk;
      if (chunk.length < 8) {
        this.head = chunk;
        return;
      }
      this.head = null;
      this.firstChunk = false;
      if (!startsMediaFile(chunk, this.format.input)) {
        this.close(Close.Unsupported, `the first chunk is not the start of a ${this.format.input === 'webm' ? 'WebM' : 'MP4'} file`);
        return;
      }
    }
    this.lastData = Date.now();
    this.bytes += chunk.length;
    this.meter.add(chunk.length);
    if (!this.bridge.write(chunk) || this.bridge.bufferedBytes > (this.service.deps.maxBufferedBytes ?? 4 * 1024 * 1024)) {
      // ffmpeg is behind: stop reading the socket until it catches up (the page sees its buffer grow).
      if (!this.ws.isPaused) {
        this.ws.pause();
        this.bridge.onDrain(() => {
          if (this.state === 'live') this.ws.resume();
        });
      }
    }
  }

  private stop(): void {
    if (this.state !== 'live') {
      this.close(Close.Normal, 'stopped');
      return;
    }
    this.state = 'stopping';
    this.service.deps.hub.finish(this.streamId);
    if (this.bridge?.alive) this.bridge.end();
    else this.close(Close.Normal, 'stopped');
  }

  private onBridgeExit(code: number | null, signal: NodeJS.Signals | null, error: string | null): void {
    const { deps } = this.service;
    this.revokePublishName();
    this.service.release(this);
    deps.log.info({ stream: this.streamId, code, signal, error }, 'browser ingest ffmpeg exited');
    if (this.state === 'stopping') this.close(Close.Normal, 'stopped');
    else if (this.state === 'live') this.close(Close.FfmpegFailed, `ffmpeg failed: ${error ?? `exit ${code ?? signal}`}`);
  }

  private onSocketClosed(): void {
    this.clearTimers();
    const wasLive = this.state === 'live';
    if (this.state !== 'closed') this.state = 'closed';
    // The page went away: let ffmpeg flush what it has; the relay keeps viewers for the grace period.
    this.bridge?.end();
    if (!this.bridge) this.service.release(this);
    if (wasLive) this.service.deps.log.info({ stream: this.streamId }, 'browser ingest socket closed');
  }

  private sendStats(): void {
    if (this.state !== 'live' || !this.bridge) return;
    const relay = this.service.deps.hub.stats(this.streamId);
    const p = this.progress;
    const buffered = this.bridge.bufferedBytes;
    const warm = Date.now() - this.liveSince > 5000;
    this.send({
      type: 'stats',
      ingest: { fps: p?.fps ?? 0, bitrateKbps: p?.bitrateKbps ?? 0, speed: p?.speed ?? 0, frames: p?.frame ?? 0 },
      received: { bytes: this.bytes, bitrateKbps: Math.round((this.meter.rates().bytesPerSecond * 8) / 1000) },
      bufferedBytes: buffered,
      relay: { live: relay?.state === 'live', fps: relay?.fps ?? 0, bitrateKbps: relay?.bitrateKbps ?? 0 },
      clockOffsetMs: this.offset ? Math.round(this.offset.value) : null,
      struggling: buffered > 1024 * 1024 || this.ws.isPaused || (warm && p !== null && p.speed > 0 && p.speed < 0.8),
    });
  }

  /** Still receiving? (For taking over from a half-open connection.) */
  get stale(): boolean {
    return this.ws.readyState !== this.ws.OPEN || Date.now() - this.lastData > STALE_MS;
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data as ArrayBuffer);
}

export class IngestService {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
  private readonly sessions = new Set<IngestSession>();
  private readonly byStream = new Map<string, IngestSession>();
  private closing = false;

  constructor(readonly deps: IngestDeps) {}

  info(): { available: boolean; reason?: string; maxMessageBytes: number } {
    const f = this.deps.ffmpeg;
    return f.found ? { available: true, maxMessageBytes: MAX_MESSAGE_BYTES } : { available: false, reason: f.reason, maxMessageBytes: MAX_MESSAGE_BYTES };
  }

  /** ffmpeg processes running now, for tests and metrics. */
  get running(): number {
    let n = 0;
    for (const s of this.sessions) if (s.bridge?.alive) n++;
    return n;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const s = new IngestSession(this, ws, req);
      this.sessions.add(s);
      ws.on('close', () => {
        if (!s.bridge?.alive) this.sessions.delete(s);
        else void s.bridge.exited.then(() => this.sessions.delete(s));
      });
    });
  }

  /** Take the stream for this session; an older, stale session for it is ended first. */
  async claim(s: IngestSession): Promise<{ ok: true } | { ok: false; reason: string }> {
    const id = s.streamId;
    const old = this.byStream.get(id);
    if (old && old !== s) {
      if (!old.stale) return { ok: false, reason: 'this stream is already being broadcast from another page' };
      old.terminate(Close.Conflict, 'replaced by a newer connection for this stream');
      if (old.bridge) await Promise.race([old.bridge.exited, new Promise((r) => setTimeout(r, 3000))]);
    } else if (!old && this.deps.hub.isLive(id)) {
      return { ok: false, reason: 'this stream is live from another source (OBS or ffmpeg)' };
    }
    if (this.byStream.get(id) && this.byStream.get(id) !== old) return { ok: false, reason: 'this stream is already being broadcast from another page' };
    this.byStream.set(id, s);
    return { ok: true };
  }

  /** The stream was deleted (or its key revoked): its browser broadcast ends now, and the page is told why. */
  endStream(id: string, reason: string): void {
    this.byStream.get(id)?.terminate(Close.Unauthorized, reason);
  }

  release(s: IngestSession): void {
    if (this.byStream.get(s.streamId) === s) this.byStream.delete(s.streamId);
  }

  async close(): Promise<void> {
    this.closing = true;
    const waits: Promise<void>[] = [];
    for (const s of this.sessions) {
      s.terminate(Close.Unavailable, 'the server is stopping');
      if (s.bridge) waits.push(s.bridge.exited);
    }
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 3000))]);
    this.wss.close();
  }
}
