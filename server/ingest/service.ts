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
import { clientAddress } from '../http/trust-proxy';

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
  limits?: Partial<IngestLimits>;
  /** Asked before a broadcast is accepted (PUBLISH_HOOK_URL); a refusal closes the socket with 4401 and its reason. */
  publishHook?: (req: { streamId: string; address: string; kind: 'browser' }) => Promise<{ ok: true } | { ok: false; reason: string }>;
}

export interface IngestLimits {
  /** Broadcasts at once: accepted sessions awaiting their first media, plus ingest ffmpegs still running. */
  maxSessions: number;
  /** /ingest sockets open at once from one client address. */
  maxSocketsPerAddress: number;
  /** /ingest sockets at once (whole server) that have no accepted `start` yet. */
  maxPendingSockets: number;
  /** An accepted broadcast that sends no media for this long is closed (4408), ms. */
  mediaTimeoutMs: number;
}

const DEFAULT_LIMITS: IngestLimits = { maxSessions: 16, maxSocketsPerAddress: 8, maxPendingSockets: 64, mediaTimeoutMs: 5000 };

const PING_MS = 2000;
const START_TIMEOUT_MS = 10_000;
/** An ingest that received nothing for this long may be replaced by a new connection for its stream. */
const STALE_MS = 3000;
/** After our close frame, a peer that does not answer it is cut off after this long (ws would wait 30 s). */
const CLOSE_GRACE_MS = 2000;

class IngestSession {
  private revokePublishName: () => void = () => undefined;
  state: 'await-start' | 'live' | 'stopping' | 'closed' = 'await-start';
  /** A start waits for the publish hook. */
  private hookPending = false;
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
  /** When `started` was sent (0: not yet). */
  private acceptedAt = 0;
  private startArgs: { input: 'webm' | 'mp4'; transcode: boolean; id: string; mimeType: string } | null = null;

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
      setInterval(() => this.tick(), 1000),
    );
    const failed = (err: unknown, what: string) => {
      deps.log.error({ err, stream: this.streamId || undefined, state: this.state, remote: clientAddress(req) }, `ingest ${what} failed`);
      this.close(Close.InternalError, 'internal server error');
      if (this.bridge) this.bridge.kill();
      else service.releaseSlot(this);
    };
    ws.on('message', (data: RawData, isBinary: boolean) => {
      try {
        if (isBinary) this.onMedia(toBuffer(data));
        else this.onText(toBuffer(data).toString('utf8')).catch((err: unknown) => failed(err, 'start'));
      } catch (err) {
        failed(err, 'message');
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
    this.service.authenticated(this);
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      this.ws.close(code, closeReason(reason));
      setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
    }
    this.bridge?.end();
    if (!this.bridge) this.service.releaseSlot(this);
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
        if (this.state !== 'await-start' || this.hookPending) {
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
      deps.log.warn({ stream: msg.streamId, remote: clientAddress(this.req) }, 'ingest refused: wrong stream key');
      this.close(Close.Unauthorized, 'wrong stream key for this stream: create a new stream');
      return;
    }
    const format = mediaFormat(msg.mimeType);
    if (!format) {
      this.close(Close.Unsupported, `unsupported recording format ${msg.mimeType.slice(0, 60)}: use WebM or MP4`);
      return;
    }
    if (deps.publishHook) {
      this.hookPending = true; // no second start while the hook decides
      const d = await deps.publishHook({ streamId: msg.streamId, address: clientAddress(this.req), kind: 'browser' });
      this.hookPending = false;
      if (this.ws.readyState !== this.ws.OPEN || this.state !== 'await-start') return;
      if (!d.ok) {
        deps.log.warn({ stream: msg.streamId, reason: d.reason }, 'ingest refused by the publish hook');
        this.close(Close.Unauthorized, d.reason);
        return;
      }
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
    // Counted from here until the ffmpeg (if one was started) has exited, whatever happens to the socket.
    const limit = this.service.takeSlot(this);
    if (limit !== null) {
      this.service.release(this);
      deps.log.warn({ stream: msg.streamId, max: limit }, 'ingest refused: too many browser broadcasts (INGEST_MAX_SESSIONS)');
      this.close(Close.TooMany, `the server is at its limit of ${limit} browser broadcasts at once: try again later`);
      return;
    }
    this.service.authenticated(this);
    if (msg.title !== undefined && msg.title.trim()) deps.registry.setTitle(msg.streamId, msg.title);
    this.format = format;
    this.startArgs = { ...format, id: record.id, mimeType: msg.mimeType };
    const captureStart = msg.captureStart;
    deps.hub.expectCaptureClock(msg.streamId, () => captureStart - (this.clockOffset ?? 0));
    // ffmpeg starts with the first valid media chunk (onMedia); until then only this session's timers run.
    this.acceptedAt = Date.now();
    this.send({ type: 'started', streamId: msg.streamId, transcode: format.transcode, urls: deps.urls(this.req, msg.streamId) });
  }

  /** The first valid chunk is here: start the ffmpeg that takes it. */
  private spawnBridge(): FfmpegBridge {
    const { deps } = this.service;
    const ffmpeg = deps.ffmpeg;
    const a = this.startArgs;
    if (!ffmpeg.found || !a) throw new Error('spawnBridge before an accepted start');
    const publish = deps.publishName?.(a.id) ?? deps.registry.issueSessionKey(a.id);
    this.revokePublishName = publish.revoke;
    let bridge: FfmpegBridge;
    try {
      const args = ingestArgs({ input: a.input, transcode: a.transcode, output: `${deps.rtmpBase()}/${publish.key}`, ffmpegMajor: ffmpeg.major });
      bridge = new FfmpegBridge({
        ffmpegPath: ffmpeg.path,
        args,
        onProgress: (p) => (this.progress = p),
        onExit: ({ code, signal, error }) => this.onBridgeExit(code, signal, error),
      });
    } catch (err) {
      // spawn() can throw (EAGAIN, ENOMEM): no ffmpeg, so no key for one.
      publish.revoke();
      throw err;
    }
    this.bridge = bridge;
    this.liveSince = Date.now();
    deps.log.info({ stream: a.id, pid: bridge.pid, mimeType: a.mimeType, transcode: a.transcode, remote: clientAddress(this.req) }, 'browser ingest started');
    return bridge;
  }

  /** Every second: stats, and the media timeout (first chunk after `started`, or silence since the last one). */
  private tick(): void {
    this.sendStats();
    if (this.state !== 'live' || this.acceptedAt === 0) return;
    const limit = this.service.limits.mediaTimeoutMs;
    const now = Date.now();
    if (!this.bridge) {
      if (now - this.acceptedAt > limit) this.close(Close.NoMedia, `no media within ${Math.round(limit / 1000)} s of the start`);
    } else if (!this.ws.isPaused && now - this.lastData > limit) {
      // (A paused socket is ours: ffmpeg is behind, nothing is read.)
      this.close(Close.NoMedia, `no media for ${Math.round(limit / 1000)} s`);
    }
  }

  private onMedia(chunk: Buffer): void {
    if (this.state === 'stopping' || this.state === 'closed') return;
    if (this.state !== 'live' || this.acceptedAt === 0 || !this.format) {
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
    const bridge = this.bridge ?? this.spawnBridge();
    this.lastData = Date.now();
    this.bytes += chunk.length;
    this.meter.add(chunk.length);
    if (!bridge.write(chunk) || bridge.bufferedBytes > (this.service.deps.maxBufferedBytes ?? 4 * 1024 * 1024)) {
      // ffmpeg is behind: stop reading the socket until it catches up (the page sees its buffer grow).
      if (!this.ws.isPaused) {
        this.ws.pause();
        bridge.onDrain(() => {
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
    this.service.releaseSlot(this);
    deps.log.info({ stream: this.streamId, code, signal, error }, 'browser ingest ffmpeg exited');
    if (this.state === 'stopping') this.close(Close.Normal, 'stopped');
    else if (this.state === 'live') this.close(Close.FfmpegFailed, `ffmpeg failed: ${error ?? `exit ${code ?? signal}`}`);
  }

  private onSocketClosed(): void {
    this.clearTimers();
    const wasLive = this.state === 'live';
    if (this.state !== 'closed') this.state = 'closed';
    // The page went away: let ffmpeg flush what it has; the relay keeps viewers for the grace period.
    this.service.authenticated(this);
    this.bridge?.end();
    if (!this.bridge) {
      this.service.release(this);
      this.service.releaseSlot(this);
    }
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
  /** Sessions that count against maxSessions (accepted, until their ffmpeg, if any, has exited). */
  private readonly slots = new Set<IngestSession>();
  /** Sessions without an accepted `start`. */
  private readonly pending = new Set<IngestSession>();
  /** Open /ingest sockets per client address (refused ones too, until they close). */
  private readonly perAddress = new Map<string, number>();
  private closing = false;
  readonly limits: IngestLimits;

  constructor(readonly deps: IngestDeps) {
    this.limits = { ...DEFAULT_LIMITS, ...deps.limits };
  }

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

  /** For /healthz and tests: sockets, broadcasts holding a slot (awaiting media or with an ffmpeg), sockets not started. */
  counts(): { sockets: number; broadcasts: number; pending: number; ffmpeg: number; maxBroadcasts: number } {
    let sockets = 0;
    for (const n of this.perAddress.values()) sockets += n;
    return { sockets, broadcasts: this.slots.size, pending: this.pending.size, ffmpeg: this.running, maxBroadcasts: this.limits.maxSessions };
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\n\r\n');
      return;
    }
    const address = clientAddress(req) || '?';
    const open = this.perAddress.get(address) ?? 0;
    this.perAddress.set(address, open + 1);
    let counted = true;
    const uncount = () => {
      if (!counted) return;
      counted = false;
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, n);
    };
    socket.once('close', uncount);
    const refusal =
      open >= this.limits.maxSocketsPerAddress
        ? `too many connections from your address (at most ${this.limits.maxSocketsPerAddress})`
        : this.pending.size >= this.limits.maxPendingSockets
          ? 'too many connections waiting to start on this server: try again later'
          : null;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // A protocol error from the peer is an 'error' event: without a listener it would be an uncaught exception.
      ws.on('error', () => undefined);
      if (refusal !== null) {
        this.deps.log.warn({ remote: address, open, pending: this.pending.size }, `ingest socket refused: ${refusal}`);
        ws.send(JSON.stringify({ type: 'error', code: Close.TooMany, message: refusal }));
        ws.close(Close.TooMany, closeReason(refusal));
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
        return;
      }
      const s = new IngestSession(this, ws, req);
      this.sessions.add(s);
      this.pending.add(s);
      ws.on('close', () => {
        this.pending.delete(s);
        if (!s.bridge?.alive) this.sessions.delete(s);
        else void s.bridge.exited.then(() => this.sessions.delete(s));
      });
    });
  }

  /** A slot among maxSessions for this session; null when taken, else the limit it ran into. */
  takeSlot(s: IngestSession): number | null {
    if (this.slots.has(s)) return null;
    if (this.slots.size >= this.limits.maxSessions) return this.limits.maxSessions;
    this.slots.add(s);
    return null;
  }

  releaseSlot(s: IngestSession): void {
    this.slots.delete(s);
  }

  /** The session's `start` was accepted (or it is over): it no longer counts as waiting to start. */
  authenticated(s: IngestSession): void {
    this.pending.delete(s);
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

  /** Refuse new sockets from now on (the drain's first step). */
  stopAccepting(): void {
    this.closing = true;
  }

  /**
   * Drain: every page is told the server is restarting (1012: it reconnects with backoff to the same stream) and
   * every ingest ffmpeg is stopped; resolves when they have exited, or after `waitMs`.
   */
  async close(waitMs = 3000): Promise<void> {
    this.closing = true;
    const waits: Promise<void>[] = [];
    for (const s of this.sessions) {
      s.terminate(Close.Restarting, 'server restarting');
      if (s.bridge) waits.push(s.bridge.exited);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(waits), new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    this.wss.close();
  }

  /** Last resort (the drain ran out of time, or the process is dying): SIGKILL every ingest ffmpeg now. */
  killAll(): void {
    for (const s of this.sessions) s.bridge?.killNow();
  }
}
