/**
 * One forward target of one live stream: a hub subscriber (SubscriberSink) that keeps an RTMP publish connection to
 * the target (connection.ts) and retries it with backoff while the stream is live.
 *
 * Like an RTMP player it starts at a keyframe: it keeps what a new connection needs (metadata, the codec configs,
 * the packets since the last keyframe, at most MAX_GOP_BYTES), and every (re)connection gets those first, with
 * timestamps counted from its first packet, then the live packets. It is bounded like a slow player: while connected
 * it reports the connection's unsent bytes to the hub, which skips it to the next keyframe past the hub's bound and
 * ends it after `stuckMs` of that (then it drops the connection and starts over); while not connected it reports 0
 * and only its own bounded GOP grows. Nothing it does waits on the target, so no target delays anyone else.
 *
 * The publisher reconnecting within the grace period is not seen by the target: the hub keeps the timeline
 * continuous and this connection stays up; the new session's configs reach the target as they come.
 */
import type { MediaPacket } from '../codec/flv';
import type { Metadata, StreamInit, SubscriberSink } from '../media/hub';
import { RateMeter } from '../media/rate';
import { ForwardConnection, type CloseKind, type ConnectionOptions } from './connection';
import { maskKey, maskUrl, type ForwardUrl } from './url';

export const MAX_GOP_BYTES = 8 * 1024 * 1024;
const PACKET_OVERHEAD = 512;
/** A connection live this long counts as a success: the next failure retries after the first backoff step again. */
const HEALTHY_MS = 10_000;

export type ForwardState = 'connecting' | 'live' | 'retrying' | 'failed';

export interface ForwarderStatus {
  state: ForwardState;
  /** Why it is retrying or failed: the target's own code and description when it gave one. */
  reason?: string;
  /** When the next attempt starts, while retrying or failed. */
  retryInSeconds?: number;
  /** Media sent to the target over the last seconds. */
  bitrateKbps: number;
  /** Connections that reached NetStream.Publish.Start, since the stream went live. */
  connections: number;
  /** When the current connection went live (ms since epoch). */
  liveSince?: number;
}

export interface ForwarderLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ForwarderOptions extends ConnectionOptions {
  /** First retry after this long; doubled per failure up to `maxBackoffMs`. */
  minBackoffMs: number;
  maxBackoffMs: number;
}

export class Forwarder implements SubscriberSink {
  readonly kind = 'forward';
  private conn: ForwardConnection | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopped = false;
  private stateValue: ForwardState = 'connecting';
  private reason: string | undefined;
  private retryAt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private connections = 0;
  private liveSince = 0;
  private readonly meter = new RateMeter();
  /** Bytes of media handed to the target's connections, all of them. */
  bytesSent = 0;
  /** The connection went down: `failed` (refused) or `retrying`, with the reason (the key masked) and the wait. */
  onDown: ((state: 'failed' | 'retrying', reason: string, retryInMs: number) => void) | null = null;
  /** Timestamp 0 of the current connection, on the stream's timeline. */
  private base: number | null = null;
  // What a new connection starts with.
  private meta: Metadata | null = null;
  private videoConfig: MediaPacket | null = null;
  private audioConfig: MediaPacket | null = null;
  private gop: MediaPacket[] = [];
  private gopBytes = 0;
  private gopCaching = false;

  constructor(
    readonly targetId: string,
    readonly url: ForwardUrl,
    private readonly subscribeTo: (sink: SubscriberSink) => () => void,
    private readonly opts: ForwarderOptions,
    private readonly log: ForwarderLog,
    /** The stream ended (or the forwarder was stopped): forget it. */
    private readonly onStopped: (f: Forwarder) => void,
  ) {}

  /** Subscribe to the stream and connect. */
  begin(): void {
    this.unsubscribe = this.subscribeTo(this);
    this.connect();
  }

  /** Stop forwarding (target disabled, changed or deleted; server stopping): a clean end for the target. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    const c = this.conn;
    this.conn = null;
    c?.finish();
    this.clearCache();
    this.onStopped(this);
  }

  status(now = Date.now()): ForwarderStatus {
    return {
      state: this.stateValue,
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.retryTimer ? { retryInSeconds: Math.max(0, Math.ceil((this.retryAt - now) / 1000)) } : {}),
      bitrateKbps: Math.round((this.meter.rates(now).bytesPerSecond * 8) / 1000),
      connections: this.connections,
      ...(this.stateValue === 'live' ? { liveSince: this.liveSince } : {}),
    };
  }

  /** Unsent bytes on the current connection (for tests and health). */
  get connectionBufferedBytes(): number {
    return this.conn?.bufferedBytes ?? 0;
  }

  get cachedBytes(): number {
    return this.gopBytes;
  }

  // ---- SubscriberSink ----------------------------------------------------------------------

  start(init: StreamInit): void {
    this.clearCache();
    this.meta = init.metadata;
    this.videoConfig = init.videoConfig;
    this.audioConfig = init.audioConfig;
    for (const p of init.gop) this.cache(p);
  }

  packet(p: MediaPacket): void {
    if (p.config) {
      if (p.kind === 'video') this.videoConfig = p;
      else this.audioConfig = p;
    } else this.cache(p);
    if (this.conn?.live) this.send(p);
  }

  metadata(m: Metadata): void {
    this.meta = m;
    if (this.conn?.live) this.conn.metadata(m);
  }

  unpublished(): void {
    // The publisher may come back within the grace period: keep the connection (the target sees a pause).
  }

  end(reason: string): void {
    this.unsubscribe = null;
    if (this.stopped) return;
    if (reason === 'subscriber too slow') {
      // The hub gave up on this connection (the target took too little for too long): start over.
      this.conn?.destroy(reason);
      this.conn = null;
      this.clearCache();
      setImmediate(() => {
        if (this.stopped) return;
        this.unsubscribe = this.subscribeTo(this);
      });
      this.closed('dropped', 'the target took too little of the stream for too long');
      return;
    }
    this.stop();
  }

  bufferedBytes(): number {
    return this.conn?.live ? this.conn.bufferedBytes : 0;
  }

  // ---- internals -------------------------------------------------------------------------

  private cache(p: MediaPacket): void {
    if (p.kind === 'video' && p.keyframe) {
      this.gop = [];
      this.gopBytes = 0;
      this.gopCaching = true;
    }
    if (!this.gopCaching) return;
    this.gop.push(p);
    this.gopBytes += p.flv.length + PACKET_OVERHEAD;
    if (this.gopBytes > MAX_GOP_BYTES) {
      this.gop = [];
      this.gopBytes = 0;
      this.gopCaching = false;
    }
  }

  private clearCache(): void {
    this.meta = null;
    this.videoConfig = this.audioConfig = null;
    this.gop = [];
    this.gopBytes = 0;
    this.gopCaching = false;
  }

  private connect(): void {
    if (this.stopped) return;
    this.retryTimer = null;
    // The reason of the last failure stays until a connection goes live.
    this.stateValue = 'connecting';
    const conn = new ForwardConnection(this.url, this.opts, {
      onLive: () => {
        if (this.conn !== conn) return;
        this.onLive(conn);
      },
      onClose: (kind, reason) => {
        if (this.conn !== conn) return;
        this.conn = null;
        this.closed(kind, reason);
      },
    });
    this.conn = conn;
  }

  private onLive(conn: ForwardConnection): void {
    this.stateValue = 'live';
    this.reason = undefined;
    this.connections++;
    this.liveSince = Date.now();
    this.log.info({ target: this.targetId, url: maskUrl(this.url) }, 'forward target live');
    // A new connection starts like a new player: metadata, configs, then the GOP so far.
    const t0 = this.gop[0]?.dts ?? null;
    this.base = t0;
    if (this.meta) conn.metadata(this.meta);
    for (const cfg of [this.videoConfig, this.audioConfig]) if (cfg) this.send(cfg, t0 ?? cfg.dts);
    for (const p of this.gop) this.send(p);
  }

  private send(p: MediaPacket, dts = p.dts): void {
    const conn = this.conn;
    if (!conn) return;
    if (this.base === null) this.base = dts;
    conn.media(p.kind, Math.max(0, dts - this.base), p.flv);
    this.meter.add(p.flv.length);
    this.bytesSent += p.flv.length;
  }

  private closed(kind: CloseKind, said: string): void {
    if (this.stopped || kind === 'local') return;
    // A platform may echo the stream name back: it goes nowhere (state, logs, webhooks) unmasked.
    const reason = withoutKey(said, this.url.key);
    const now = Date.now();
    if (this.stateValue === 'live' && now - this.liveSince >= HEALTHY_MS) this.failures = 0;
    this.failures++;
    this.base = null;
    const delay = Math.min(this.opts.maxBackoffMs, this.opts.minBackoffMs * 2 ** Math.min(16, this.failures - 1));
    const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
    this.stateValue = kind === 'refused' || (this.stateValue !== 'live' && /refused\?/.test(reason)) ? 'failed' : 'retrying';
    this.reason = reason;
    this.retryAt = now + jittered;
    this.retryTimer = setTimeout(() => this.connect(), jittered);
    this.retryTimer.unref();
    this.log.warn({ target: this.targetId, url: maskUrl(this.url), reason, retryInMs: jittered }, 'forward target down, retrying');
    this.onDown?.(this.stateValue, reason, jittered);
  }
}

/** A platform's reason with the stream key (and its bare part, before any ?query) masked, wherever it appears. */
export function withoutKey(reason: string, key: string): string {
  let out = reason;
  for (const k of [key, key.split('?')[0]]) if (k.length >= 4) out = out.split(k).join(maskKey(key));
  return out;
}
