/**
 * The page side of the `/ingest` WebSocket (docs/ingest-protocol.md): one MediaRecorder per connection, chunks sent
 * in order, pings answered, reconnection with backoff on a lost connection. No React here: `useIngest` wraps it.
 */
import type { RecorderOptions } from './media';

export type Status = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'ended' | 'error';

export interface StreamUrls {
  watch: string;
  hls: string;
  rtmpPlay: string;
}

/** `stats` from the server, every second. Every field may be missing on an older or newer server. */
export interface ServerStats {
  ingest?: { fps?: number; bitrateKbps?: number; speed?: number; frames?: number };
  received?: { bytes?: number; bitrateKbps?: number };
  bufferedBytes?: number;
  relay?: { live?: boolean; fps?: number; bitrateKbps?: number };
  clockOffsetMs?: number;
  struggling?: boolean;
}

export interface IngestSnapshot {
  status: Status;
  streamId: string | null;
  /** Reconnection attempts during this broadcast. */
  reconnects: number;
  /** Why the broadcast failed (status `error`): the server's close reason as sent, or ours. */
  error: string | null;
  errorCode: number | null;
  /** Something the user should know while it goes on (e.g. why it is reconnecting). */
  notice: string | null;
  urls: StreamUrls | null;
  transcode: boolean;
  mimeType: string | null;
  /** When the broadcast first went live (kept across reconnects). */
  liveSince: number | null;
  sentBytes: number;
  /** What the page sent over the last second, bits/s. */
  uploadBps: number;
  /** `WebSocket.bufferedAmount`: bytes queued in the browser. */
  bufferedAmount: number;
  stats: ServerStats | null;
  /** Stop was pressed and the last chunk is on its way. */
  stopping: boolean;
}

export interface BroadcastParams {
  wsUrl: string;
  streamId: string;
  key: string;
  title?: string;
  mimeType: string;
  stream: MediaStream;
  recorderOptions: RecorderOptions;
  /** Larger recorder chunks are split over several binary messages (they are one byte stream). */
  maxMessageBytes: number;
  /** Test hook: the first binary message is 64 random bytes instead of the first recorder chunk. */
  garbageFirst?: boolean;
}

/** MediaRecorder timeslice: each chunk waits this long in the recorder (100 ms instead of 250 saves ~130 ms of latency). */
export const TIMESLICE_MS = 100;
const BACKOFF_MS = [500, 1000, 2000, 4000, 5000];
const GIVE_UP_MS = 60_000;
/** After "server restarting" (1012) the page keeps trying this long: a restart may include a build. */
const RESTART_GIVE_UP_MS = 15 * 60_000;
/** Live this long after (re)connecting and the backoff starts over. */
const STABLE_MS = 5_000;
/** No `started` this long after the socket opened: treat the connection as lost. */
const START_TIMEOUT_MS = 20_000;
/** The first binary message carries at least this much (a WebM or MP4 header is larger). */
const FIRST_MESSAGE_MIN = 1024;

/** Close codes after which the page does not reconnect (docs/ingest-protocol.md). */
const FATAL_CLOSE = new Set([1009, 4400, 4401, 4409, 4415, 4503]);

const FALLBACK_REASON: Record<number, string> = {
  1009: 'A media chunk was larger than the server accepts.',
  1011: 'Something failed on the server.',
  1012: 'The server is restarting.',
  4408: 'The server received no media for a few seconds.',
  4429: 'The server is at its limit of broadcasts or connections.',
  4400: 'The server did not understand the page.',
  4401: 'Wrong stream key or unknown stream.',
  4409: 'Another broadcast is already live on this stream.',
  4415: 'The server cannot read this media format.',
  4500: 'The server could not process the stream (ffmpeg failed).',
  4503: 'Browser broadcasting is unavailable on this server.',
};

interface Connection {
  ws: WebSocket;
  recorder: MediaRecorder | null;
  /** The server answered `started`: binary may flow. */
  started: boolean;
  /** Chunks recorded before `started`. */
  queue: ArrayBuffer[];
  /** Keeps chunks in order while their bytes are read. */
  chain: Promise<void>;
  garbage: boolean;
  firstBinarySent: boolean;
  /** The first bytes, held until there are enough for the server to recognise the file. */
  head: Uint8Array[];
  headBytes: number;
  closed: boolean;
  serverError: string | null;
  startTimer: ReturnType<typeof setTimeout> | null;
  stableTimer: ReturnType<typeof setTimeout> | null;
}

const INITIAL: IngestSnapshot = {
  status: 'idle',
  streamId: null,
  reconnects: 0,
  error: null,
  errorCode: null,
  notice: null,
  urls: null,
  transcode: false,
  mimeType: null,
  liveSince: null,
  sentBytes: 0,
  uploadBps: 0,
  bufferedAmount: 0,
  stats: null,
  stopping: false,
};

type Listener = () => void;

export interface IngestEvents {
  /** The server refused the stream for good (close code). 4401 means the stored key is useless. */
  onRefused?: (code: number) => void;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class IngestClient {
  private snap: IngestSnapshot = INITIAL;
  private readonly listeners = new Set<Listener>();
  private params: BroadcastParams | null = null;
  private conn: Connection | null = null;
  private attempt = 0;
  private lostSince: number | null = null;
  /** The server said it is restarting (1012): keep reconnecting until it is back. */
  private restarting = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private statsTimer: ReturnType<typeof setInterval> | null = null;
  private lastSample = { at: 0, bytes: 0 };
  private sentBytes = 0;

  constructor(private readonly events: IngestEvents = {}) {}

  // --- store (useSyncExternalStore) ---

  subscribe = (fn: Listener): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getSnapshot = (): IngestSnapshot => this.snap;

  getServerSnapshot = (): IngestSnapshot => INITIAL;

  private update(patch: Partial<IngestSnapshot>): void {
    this.snap = { ...this.snap, ...patch };
    for (const fn of this.listeners) fn();
  }

  get active(): boolean {
    return this.params !== null;
  }

  // --- public ---

  start(params: BroadcastParams): void {
    if (this.params) return;
    this.params = params;
    this.attempt = 0;
    this.lostSince = null;
    this.restarting = false;
    this.sentBytes = 0;
    this.lastSample = { at: Date.now(), bytes: 0 };
    this.update({
      ...INITIAL,
      status: 'connecting',
      streamId: params.streamId,
      mimeType: params.mimeType,
    });
    this.statsTimer = setInterval(this.sample, 1000);
    window.addEventListener('online', this.onOnline);
    this.connect(params.garbageFirst === true);
  }

  /** Stop: the last chunk, then `stop`, then close with 1000. */
  async stop(): Promise<void> {
    const params = this.params;
    if (!params || this.snap.stopping) return;
    this.update({ stopping: true });
    this.clearRetry();
    const conn = this.conn;
    if (conn && !conn.closed) {
      await this.stopRecorder(conn, true);
      await Promise.race([conn.chain, sleep(1500)]);
      conn.closed = true;
      this.clearConnTimers(conn);
      const ws = conn.ws;
      if (ws.readyState === WebSocket.OPEN) {
        if (conn.started) ws.send(JSON.stringify({ type: 'stop' }));
        ws.close(1000, 'stopped');
      } else if (ws.readyState === WebSocket.CONNECTING) {
        ws.close();
      }
    }
    this.finish({ status: 'ended', notice: null });
  }

  /** Test hook: close the socket with 4000 and behave as on a lost connection. */
  dropConnection(): void {
    const conn = this.conn;
    if (!conn || conn.closed || this.snap.stopping) return;
    try {
      conn.ws.close(4000, 'simulated drop');
    } catch {
      /* already closing */
    }
    this.lost(conn, 'Connection lost (simulated drop).');
  }

  /** The page goes away: end whatever runs without waiting. */
  dispose(): void {
    if (!this.params) return;
    void this.stop();
  }

  // --- connection ---

  private wsUrl(): string {
    return this.params?.wsUrl ?? '';
  }

  private connect(garbage: boolean): void {
    const params = this.params;
    if (!params) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.wsUrl());
    } catch (err) {
      this.fail(`Could not open the connection to the server: ${(err as Error).message}`, null);
      return;
    }
    ws.binaryType = 'arraybuffer';
    const conn: Connection = {
      ws,
      recorder: null,
      started: false,
      queue: [],
      chain: Promise.resolve(),
      garbage,
      firstBinarySent: false,
      head: [],
      headBytes: 0,
      closed: false,
      serverError: null,
      startTimer: null,
      stableTimer: null,
    };
    this.conn = conn;
    ws.onopen = () => {
      if (this.conn !== conn || conn.closed) return;
      this.onOpen(conn, params);
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.conn !== conn || conn.closed || typeof ev.data !== 'string') return;
      this.onMessage(conn, ev.data);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.conn !== conn || conn.closed) return;
      this.onClose(conn, ev.code, ev.reason);
    };
    ws.onerror = () => undefined; // a close event follows
  }

  private onOpen(conn: Connection, params: BroadcastParams): void {
    // The recorder starts now and its chunks wait for `started`: so `captureStart` is the real start of the
    // recording (RTMP timestamp 0) and nothing is lost while the server starts ffmpeg.
    let recorder: MediaRecorder;
    try {
      recorder = new MediaRecorder(params.stream, params.recorderOptions);
    } catch (err) {
      conn.closed = true;
      conn.ws.close(1000, 'recorder failed');
      this.fail(`This browser could not start recording (${params.mimeType}): ${(err as Error).message}`, null);
      return;
    }
    conn.recorder = recorder;
    recorder.ondataavailable = (ev: BlobEvent) => {
      const blob = ev.data;
      if (!blob || blob.size === 0) return;
      conn.chain = conn.chain
        .then(async () => {
          const buf = await blob.arrayBuffer();
          this.deliver(conn, buf);
        })
        .catch(() => undefined);
    };
    recorder.onerror = () => {
      if (this.conn !== conn || conn.closed) return;
      this.lost(conn, 'Recording stopped unexpectedly.');
      try {
        conn.ws.close(4000, 'recorder error');
      } catch {
        /* closing */
      }
    };
    const captureStart = Date.now();
    try {
      recorder.start(TIMESLICE_MS);
    } catch (err) {
      conn.closed = true;
      conn.ws.close(1000, 'recorder failed');
      this.fail(`This browser could not start recording: ${(err as Error).message}`, null);
      return;
    }
    const start: Record<string, unknown> = {
      type: 'start',
      v: 1,
      streamId: params.streamId,
      key: params.key,
      mimeType: params.mimeType,
      captureStart,
    };
    if (params.title) start.title = params.title;
    conn.ws.send(JSON.stringify(start));
    conn.startTimer = setTimeout(() => {
      if (this.conn !== conn || conn.closed || conn.started) return;
      this.lost(conn, 'The server did not start the stream in time.');
      conn.ws.close(4000, 'start timeout');
    }, START_TIMEOUT_MS);
  }

  private onMessage(conn: Connection, text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (!isObject(msg)) return;
    switch (msg.type) {
      case 'ping':
        if (conn.ws.readyState === WebSocket.OPEN) {
          conn.ws.send(JSON.stringify({ type: 'pong', serverTime: msg.serverTime, clientTime: Date.now() }));
        }
        return;
      case 'started':
        this.onStarted(conn, msg);
        return;
      case 'stats':
        this.update({ stats: msg as ServerStats });
        return;
      case 'error':
        conn.serverError = typeof msg.message === 'string' ? msg.message : null;
        return;
      default:
        return;
    }
  }

  private onStarted(conn: Connection, msg: Record<string, unknown>): void {
    if (conn.started) return;
    conn.started = true;
    this.restarting = false;
    if (conn.startTimer) clearTimeout(conn.startTimer);
    const urls = isObject(msg.urls) ? (msg.urls as unknown as StreamUrls) : this.snap.urls;
    this.update({
      status: 'live',
      urls,
      transcode: msg.transcode === true,
      liveSince: this.snap.liveSince ?? Date.now(),
      notice: null,
      error: null,
      errorCode: null,
    });
    for (const buf of conn.queue.splice(0)) this.sendBinary(conn, buf);
    conn.stableTimer = setTimeout(() => {
      if (this.conn === conn && !conn.closed) {
        this.attempt = 0;
        this.lostSince = null;
      }
    }, STABLE_MS);
  }

  private deliver(conn: Connection, buf: ArrayBuffer): void {
    if (this.conn !== conn || conn.closed) return;
    if (!conn.started) conn.queue.push(buf);
    else this.sendBinary(conn, buf);
  }

  private sendBinary(conn: Connection, buf: ArrayBuffer): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    let data = buf;
    if (!conn.firstBinarySent) {
      // The server checks the file signature on the first message, but Chromium sometimes hands out the
      // file's first byte alone as the first chunk: gather at least FIRST_MESSAGE_MIN bytes first.
      conn.head.push(new Uint8Array(buf));
      conn.headBytes += buf.byteLength;
      if (conn.headBytes < FIRST_MESSAGE_MIN) return;
      data = concat(conn.head, conn.headBytes);
      conn.head = [];
      conn.headBytes = 0;
      conn.firstBinarySent = true;
      if (conn.garbage) {
        const junk = new Uint8Array(64);
        crypto.getRandomValues(junk);
        junk[0] = 0; // never an EBML or ftyp start by chance
        data = junk.buffer;
      }
    }
    const max = Math.max(1024, this.params?.maxMessageBytes ?? data.byteLength);
    for (let off = 0; off < data.byteLength; off += max) {
      const part = off === 0 && data.byteLength <= max ? data : data.slice(off, off + max);
      conn.ws.send(part);
    }
    this.sentBytes += data.byteLength;
  }

  private onClose(conn: Connection, code: number, reason: string): void {
    if (this.snap.stopping) {
      conn.closed = true; // stop() finishes
      return;
    }
    const text = reason || conn.serverError || FALLBACK_REASON[code] || '';
    if (code === 1000) {
      // The server ended the broadcast without our stop.
      conn.closed = true;
      void this.stopRecorder(conn, false);
      this.finish({ status: 'ended', notice: text ? `The server ended the broadcast: ${text}` : null });
      return;
    }
    // 4409 during a reconnection is most likely our own previous connection, not yet gone on the server side.
    const staleSelf = code === 4409 && this.lostSince !== null;
    if (FATAL_CLOSE.has(code) && !staleSelf) {
      conn.closed = true;
      void this.stopRecorder(conn, false);
      this.fail(text || `The server closed the connection (code ${code}).`, code);
      this.events.onRefused?.(code);
      return;
    }
    if (code === 1012) this.restarting = true;
    const why = this.restarting ? FALLBACK_REASON[1012] : code === 4500 && text ? text : code === 1006 || !text ? 'Connection lost.' : text;
    this.lost(conn, why);
  }

  /** The connection is gone: stop its recorder and try again with backoff (a new recorder, a new file). */
  private lost(conn: Connection, why: string): void {
    if (this.snap.stopping) return; // stop() finishes
    conn.closed = true;
    this.clearConnTimers(conn);
    void this.stopRecorder(conn, false);
    if (conn.ws.readyState === WebSocket.CONNECTING || conn.ws.readyState === WebSocket.OPEN) {
      try {
        conn.ws.close(4000, 'reconnecting');
      } catch {
        /* closing */
      }
    }
    if (this.conn === conn) this.conn = null;
    if (!this.params) return;
    const now = Date.now();
    this.lostSince ??= now;
    const giveUp = this.restarting ? RESTART_GIVE_UP_MS : GIVE_UP_MS;
    if (now - this.lostSince >= giveUp) {
      this.fail(`Lost the connection to the server and could not reconnect for ${Math.round(giveUp / 1000)} s. ${why}`, null);
      return;
    }
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt++;
    this.update({
      status: 'reconnecting',
      notice: `${why} Reconnecting in ${delay < 1000 ? `${delay} ms` : `${delay / 1000} s`}…`,
      reconnects: this.snap.reconnects + 1,
      stats: null,
    });
    this.clearRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect(false);
    }, delay);
  }

  private onOnline = (): void => {
    // Back online: do not wait for the rest of the backoff.
    if (this.retryTimer && this.params) {
      this.clearRetry();
      this.connect(false);
    }
  };

  private stopRecorder(conn: Connection, flush: boolean): Promise<void> {
    const rec = conn.recorder;
    if (!rec || rec.state === 'inactive') return Promise.resolve();
    if (!flush) {
      rec.ondataavailable = null;
      rec.onerror = null;
    }
    return new Promise<void>((resolve) => {
      const done = () => resolve();
      rec.addEventListener('stop', done, { once: true });
      setTimeout(done, 1000);
      try {
        rec.stop();
      } catch {
        resolve();
      }
    });
  }

  private clearConnTimers(conn: Connection): void {
    if (conn.startTimer) clearTimeout(conn.startTimer);
    if (conn.stableTimer) clearTimeout(conn.stableTimer);
    conn.startTimer = null;
    conn.stableTimer = null;
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private sample = (): void => {
    const now = Date.now();
    const dt = Math.max(1, now - this.lastSample.at) / 1000;
    const uploadBps = ((this.sentBytes - this.lastSample.bytes) * 8) / dt;
    this.lastSample = { at: now, bytes: this.sentBytes };
    const ws = this.conn?.ws;
    this.update({
      uploadBps,
      sentBytes: this.sentBytes,
      bufferedAmount: ws && ws.readyState === WebSocket.OPEN ? ws.bufferedAmount : 0,
    });
  };

  private fail(message: string, code: number | null): void {
    this.finish({ status: 'error', error: message, errorCode: code, notice: null });
  }

  /** The broadcast is over (ended or failed): release everything. */
  private finish(patch: Partial<IngestSnapshot>): void {
    this.clearRetry();
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
    if (typeof window !== 'undefined') window.removeEventListener('online', this.onOnline);
    const conn = this.conn;
    if (conn) {
      conn.closed = true;
      this.clearConnTimers(conn);
      void this.stopRecorder(conn, false);
      if (conn.ws.readyState === WebSocket.CONNECTING || conn.ws.readyState === WebSocket.OPEN) {
        try {
          conn.ws.close(1000, 'ended');
        } catch {
          /* closing */
        }
      }
    }
    this.conn = null;
    this.params = null;
    this.update({ ...patch, stopping: false, uploadBps: 0, bufferedAmount: 0, sentBytes: this.sentBytes });
  }
}

function concat(parts: Uint8Array[], total: number): ArrayBuffer {
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out.buffer;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
