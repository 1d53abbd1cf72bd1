import type { MediaPacket } from '../codec/flv';
import { RateMeter } from './rate';
import { TypedEmitter } from './typed-emitter';

/**
 * The hub: the only meeting point of publishers and subscribers. It knows streams, packets
 * and timing, never protocol bytes. Data flows one way: publisher -> hub -> subscribers.
 */

export type Metadata = Record<string, unknown>;

/** What a subscriber needs before the next live packet: metadata, codec configs and the GOP so far. */
export interface StreamInit {
  metadata: Metadata | null;
  videoConfig: MediaPacket | null;
  audioConfig: MediaPacket | null;
  /** Packets since the last video keyframe (starts with that keyframe); empty for a fresh publish. */
  gop: MediaPacket[];
}

export interface SubscriberSink {
  readonly kind: string;
  /** A publish session began (or the subscriber joined a live one): send `init` first. */
  start(init: StreamInit): void;
  packet(p: MediaPacket): void;
  /** New metadata in the middle of a session. */
  metadata?(m: Metadata): void;
  /** The publisher left; it may come back within the grace period. */
  unpublished(): void;
  /** The subscription is over (stream ended, or the subscriber was too slow). Release everything. */
  end(reason: string): void;
  /** Bytes handed to the transport but not yet sent, for backpressure. */
  bufferedBytes(): number;
}

export interface PublisherHandle {
  readonly kind: string;
  readonly remote?: string;
  /** Drop this publisher: it was replaced, or the server is stopping. */
  drop(reason: string): void;
}

export type StreamState = 'idle' | 'live' | 'reconnecting';

export interface StreamStats {
  id: string;
  state: StreamState;
  /** When the current run of publishing began (survives reconnects within the grace period). */
  startedAt: number | null;
  publisher: { kind: string; remote?: string } | null;
  subscribers: Record<string, number>;
  video: { codec: string; width?: number; height?: number } | null;
  audio: { codec: string; sampleRate?: number; channels?: number } | null;
  bitrateKbps: number;
  fps: number;
  bytesIn: number;
  packetsIn: number;
  droppedForSlowSubscribers: number;
}

export interface HubEvents extends Record<string, unknown> {
  publish: { id: string; resumed: boolean };
  unpublish: { id: string; reason: string };
  end: { id: string };
  subscribe: { id: string; kind: string };
  unsubscribe: { id: string; kind: string; reason: string };
}

export class PublishRefused extends Error {
  override name = 'PublishRefused';
}

export interface HubOptions {
  /** How long subscribers stay attached after the publisher leaves. */
  graceMs: number;
  /** A publisher that sent nothing for this long may be replaced by a new one with the right key. */
  staleMs: number;
  /** A subscriber with more than this many bytes unsent skips to the next keyframe. */
  maxBufferedBytes: number;
  /** A subscriber that keeps skipping for this long is disconnected. */
  stuckMs: number;
  /**
   * The GOP cache stops caching (until the next keyframe) past this size: payload bytes plus GOP_PACKET_OVERHEAD per
   * packet, so that a flood of tiny packets is bounded too.
   */
  maxGopBytes: number;
  now: () => number;
  onListenerError: (err: unknown, where: string) => void;
}

/**
 * What one cached packet costs beyond its payload: the MediaPacket object, its Buffer views (`flv`, `data`) and, with
 * RTMP players, its shared encoding's Buffer object and WeakMap entry (~330 bytes measured on Node 20, rounded up). A
 * million 1-byte video messages (2 bytes each on the wire) would otherwise pass a 16 MiB payload bound as 1 MB.
 */
export const GOP_PACKET_OVERHEAD = 512;

const DEFAULTS: HubOptions = {
  graceMs: 10_000,
  staleMs: 2_000,
  maxBufferedBytes: 2 * 1024 * 1024,
  stuckMs: 10_000,
  maxGopBytes: 16 * 1024 * 1024,
  now: Date.now,
  onListenerError: () => undefined,
};

class Subscription {
  waitingForKey = false;
  skippingSince = 0;
  started = false;
  ended = false;
  constructor(
    readonly stream: Stream,
    readonly sink: SubscriberSink,
  ) {}
}

export interface PublishSession {
  readonly streamId: string;
  metadata(m: Metadata): void;
  packet(p: MediaPacket): void;
  /** The publisher left (socket closed, deleteStream ...). Idempotent. */
  end(reason: string): void;
  readonly active: boolean;
}

class Stream {
  state: StreamState = 'idle';
  startedAt: number | null = null;
  publisher: PublisherHandle | null = null;
  session: Session | null = null;
  subs = new Set<Subscription>();
  metadata: Metadata | null = null;
  videoConfig: MediaPacket | null = null;
  audioConfig: MediaPacket | null = null;
  gop: MediaPacket[] = [];
  gopBytes = 0;
  gopCaching = false;
  hasVideo = false;
  /** Timeline continuity across publish sessions. */
  lastDts: number | null = null;
  lastPacketAt = 0;
  graceTimer: ReturnType<typeof setTimeout> | null = null;
  meter = new RateMeter();
  videoMeter = new RateMeter();
  bytesIn = 0;
  packetsIn = 0;
  dropped = 0;
  everPublished = false;
  /** For the next publish session: how to learn the wall time of its timestamp 0. */
  pendingCaptureClock: (() => number | null) | null = null;
  /** End at once when the publisher leaves, without the grace period. */
  endOnUnpublish = false;
  constructor(readonly id: string) {}
}

class Session implements PublishSession {
  active = true;
  offset: number | null = null;
  /** Capture clock: wall ms (server clock) of the publisher's timestamp 0, when known. */
  captureZero: (() => number | null) | null = null;
  lastActivity: number;
  constructor(
    readonly hub: Hub,
    readonly stream: Stream,
    readonly handle: PublisherHandle,
  ) {
    this.lastActivity = hub.options.now();
  }
  get streamId() {
    return this.stream.id;
  }
  metadata(m: Metadata): void {
    if (this.active) this.hub.onMetadata(this, m);
  }
  packet(p: MediaPacket): void {
    if (this.active) this.hub.onPacket(this, p);
  }
  end(reason: string): void {
    if (this.active) this.hub.onPublisherEnd(this, reason);
  }
}

export class Hub {
  readonly options: HubOptions;
  readonly events: TypedEmitter<HubEvents>;
  /** Since the start, all streams: media bytes and packets in, packets skipped for slow subscribers. */
  readonly totals = { bytesIn: 0, packetsIn: 0, dropped: 0 };
  private streams = new Map<string, Stream>();

  constructor(options: Partial<HubOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.events = new TypedEmitter<HubEvents>((err, ev) => this.options.onListenerError(err, `hub event ${ev}`));
  }

  /** Start publishing `id`. A live publisher is replaced only when it has gone stale; else PublishRefused. */
  publish(id: string, handle: PublisherHandle): PublishSession {
    const now = this.options.now();
    let stream = this.streams.get(id);
    if (stream?.session) {
      const old = stream.session;
      if (now - old.lastActivity < this.options.staleMs) {
        throw new PublishRefused(`stream ${id} already has a live publisher`);
      }
      this.onPublisherEnd(old, 'replaced by a new publisher');
      this.safe(() => old.handle.drop('replaced by a new publisher with the same key'), 'publisher drop');
    }
    if (!stream) {
      stream = new Stream(id);
      this.streams.set(id, stream);
    }
    const resumed = stream.state === 'reconnecting';
    if (stream.graceTimer) clearTimeout(stream.graceTimer);
    stream.graceTimer = null;
    const session = new Session(this, stream, handle);
    session.captureZero = stream.pendingCaptureClock;
    stream.pendingCaptureClock = null;
    stream.endOnUnpublish = false;
    stream.session = session;
    stream.publisher = handle;
    stream.state = 'live';
    stream.everPublished = true;
    if (!resumed) stream.startedAt = now;
    // A new session brings its own configs and metadata.
    stream.metadata = null;
    stream.videoConfig = null;
    stream.audioConfig = null;
    this.resetGop(stream);
    stream.hasVideo = false;
    for (const sub of stream.subs) this.startSub(sub, { metadata: null, videoConfig: null, audioConfig: null, gop: [] });
    this.events.emit('publish', { id, resumed });
    return session;
  }

  /** Subscribe to `id`, live or not yet. Returns an unsubscribe function. */
  subscribe(id: string, sink: SubscriberSink): () => void {
    let stream = this.streams.get(id);
    if (!stream) {
      stream = new Stream(id);
      this.streams.set(id, stream);
    }
    const sub = new Subscription(stream, sink);
    stream.subs.add(sub);
    this.events.emit('subscribe', { id, kind: sink.kind });
    if (stream.state === 'live') {
      this.startSub(sub, {
        metadata: stream.metadata,
        videoConfig: stream.videoConfig,
        audioConfig: stream.audioConfig,
        gop: stream.gopCaching ? stream.gop.slice() : [],
      });
      // Without a cached GOP, a video stream waits for its next keyframe.
      if (stream.hasVideo && !stream.gopCaching) sub.waitingForKey = true;
    }
    return () => this.unsubscribe(sub, 'unsubscribed', false);
  }

  /**
   * The next publisher of `id` (e.g. the ingest's own ffmpeg) has timestamp 0 at a known wall time
   * (capture time on the server's clock). `clock` is asked at the first packet, when it knows best.
   */
  expectCaptureClock(id: string, clock: () => number | null): void {
    let stream = this.streams.get(id);
    if (!stream) {
      stream = new Stream(id);
      this.streams.set(id, stream);
    }
    stream.pendingCaptureClock = clock;
  }

  /** The publisher stopped on purpose: end the stream as soon as it leaves, skipping the grace period. */
  finish(id: string): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    if (stream.session) stream.endOnUnpublish = true;
    else if (stream.state === 'reconnecting') this.endStream(stream, 'stream ended');
  }

  isLive(id: string): boolean {
    return this.streams.get(id)?.state === 'live';
  }

  /** Is there a stream by this id that is live or waiting for its publisher to come back? */
  isActive(id: string): boolean {
    const s = this.streams.get(id)?.state;
    return s === 'live' || s === 'reconnecting';
  }

  stats(id: string): StreamStats | null {
    const s = this.streams.get(id);
    return s ? this.statsOf(s) : null;
  }

  /** Streams that are live or reconnecting. */
  activeStats(): StreamStats[] {
    return [...this.streams.values()].filter((s) => s.state !== 'idle').map((s) => this.statsOf(s));
  }

  /** The GOP cache of a stream: packets and the bytes they count for (payload + GOP_PACKET_OVERHEAD each). */
  gopCache(id: string): { packets: number; bytes: number } | null {
    const s = this.streams.get(id);
    return s ? { packets: s.gop.length, bytes: s.gopBytes } : null;
  }

  /** Current init (configs + GOP) of a live stream, for a consumer that attaches late. */
  close(reason = 'server stopping'): void {
    for (const id of [...this.streams.keys()]) this.end(id, reason);
  }

  /**
   * End the stream now, without a grace period (the operator deleted it, the server stops): its publisher is dropped
   * and every subscriber gets the end (RTMP players Play.Stop, the packager EXT-X-ENDLIST).
   */
  end(id: string, reason: string): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    if (stream.session) {
      const h = stream.session.handle;
      this.onPublisherEnd(stream.session, reason);
      this.safe(() => h.drop(reason), 'publisher drop');
    }
    this.endStream(stream, reason);
  }

  // ---- internals -------------------------------------------------------------------------

  onMetadata(session: Session, m: Metadata): void {
    const stream = session.stream;
    session.lastActivity = this.options.now();
    stream.metadata = m;
    for (const sub of stream.subs) if (sub.started) this.safe(() => sub.sink.metadata?.(m), 'sink metadata');
  }

  onPacket(session: Session, p: MediaPacket): void {
    const stream = session.stream;
    const now = this.options.now();
    session.lastActivity = now;
    // Keep one continuous timeline across publish sessions, so players and the packager never see time go back.
    if (session.captureZero) {
      const zero = session.captureZero();
      if (zero !== null) p.captureTime = zero + p.dts;
    }
    if (session.offset === null) {
      session.offset =
        stream.lastDts === null ? 0 : stream.lastDts + Math.max(1, Math.min(now - stream.lastPacketAt, 60_000)) - p.dts;
    }
    p.dts += session.offset;
    if (stream.lastDts === null || p.dts > stream.lastDts) stream.lastDts = p.dts;
    stream.lastPacketAt = now;
    stream.bytesIn += p.flv.length;
    stream.packetsIn++;
    this.totals.bytesIn += p.flv.length;
    this.totals.packetsIn++;
    stream.meter.add(p.flv.length, 1, now);

    if (p.config) {
      if (p.kind === 'video') {
        stream.videoConfig = p;
        stream.hasVideo = true;
      } else stream.audioConfig = p;
    } else if (p.kind === 'video') {
      stream.hasVideo = true;
      stream.videoMeter.add(0, 1, now);
      if (p.keyframe) {
        this.resetGop(stream);
        stream.gopCaching = true;
      }
    }
    if (stream.gopCaching && !p.config) {
      stream.gop.push(p);
      stream.gopBytes += p.flv.length + GOP_PACKET_OVERHEAD;
      if (stream.gopBytes > this.options.maxGopBytes) this.resetGop(stream);
    }
    for (const sub of stream.subs) this.deliver(sub, p, now);
  }

  onPublisherEnd(session: Session, reason: string): void {
    session.active = false;
    const stream = session.stream;
    if (stream.session !== session) return;
    stream.session = null;
    stream.publisher = null;
    stream.state = 'reconnecting';
    this.resetGop(stream);
    for (const sub of stream.subs) if (sub.started) this.safe(() => sub.sink.unpublished(), 'sink unpublished');
    this.events.emit('unpublish', { id: stream.id, reason });
    if (stream.endOnUnpublish) {
      this.endStream(stream, 'stream ended');
      return;
    }
    stream.graceTimer = setTimeout(() => this.endStream(stream, 'stream ended'), this.options.graceMs);
    stream.graceTimer.unref?.();
  }

  private endStream(stream: Stream, reason: string): void {
    if (stream.graceTimer) clearTimeout(stream.graceTimer);
    stream.graceTimer = null;
    const wasActive = stream.state !== 'idle';
    stream.state = 'idle';
    stream.startedAt = null;
    stream.lastDts = null;
    if (wasActive) {
      for (const sub of [...stream.subs]) this.unsubscribe(sub, reason, true);
      this.events.emit('end', { id: stream.id });
    }
    if (stream.subs.size === 0 && !stream.session) this.streams.delete(stream.id);
  }

  private unsubscribe(sub: Subscription, reason: string, notifySink: boolean): void {
    if (sub.ended) return;
    sub.ended = true;
    const stream = sub.stream;
    stream.subs.delete(sub);
    if (notifySink) this.safe(() => sub.sink.end(reason), 'sink end');
    this.events.emit('unsubscribe', { id: stream.id, kind: sub.sink.kind, reason });
    if (stream.subs.size === 0 && stream.state === 'idle' && !stream.session) this.streams.delete(stream.id);
  }

  private startSub(sub: Subscription, init: StreamInit): void {
    sub.started = true;
    sub.waitingForKey = false;
    sub.skippingSince = 0;
    this.safe(() => sub.sink.start(init), 'sink start');
  }

  private deliver(sub: Subscription, p: MediaPacket, now: number): void {
    if (!sub.started || sub.ended) return;
    if (!p.config) {
      const buffered = sub.sink.bufferedBytes();
      if (sub.waitingForKey) {
        const canResume =
          (p.kind === 'video' ? p.keyframe : !sub.stream.hasVideo) && buffered <= this.options.maxBufferedBytes / 2;
        if (!canResume) {
          sub.stream.dropped++;
          this.totals.dropped++;
          if (sub.skippingSince && now - sub.skippingSince > this.options.stuckMs) {
            this.unsubscribe(sub, 'subscriber too slow', true);
          }
          return;
        }
        sub.waitingForKey = false;
        sub.skippingSince = 0;
      } else if (buffered > this.options.maxBufferedBytes) {
        sub.waitingForKey = true;
        sub.skippingSince = now;
        sub.stream.dropped++;
        this.totals.dropped++;
        return;
      }
    }
    // Inline rather than `safe()`: no closure per subscriber and packet on the hot path.
    try {
      sub.sink.packet(p);
    } catch (err) {
      this.options.onListenerError(err, 'sink packet');
    }
  }

  private resetGop(stream: Stream): void {
    stream.gop = [];
    stream.gopBytes = 0;
    stream.gopCaching = false;
  }

  private statsOf(s: Stream): StreamStats {
    const now = this.options.now();
    const subscribers: Record<string, number> = {};
    for (const sub of s.subs) subscribers[sub.sink.kind] = (subscribers[sub.sink.kind] ?? 0) + 1;
    const m = s.metadata ?? {};
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
    const { bytesPerSecond } = s.meter.rates(now);
    const fps = s.videoMeter.rates(now).eventsPerSecond;
    return {
      id: s.id,
      state: s.state,
      startedAt: s.startedAt,
      publisher: s.publisher ? { kind: s.publisher.kind, remote: s.publisher.remote } : null,
      subscribers,
      video: s.videoConfig
        ? { codec: s.videoConfig.codec, width: num(m.width), height: num(m.height) }
        : s.hasVideo
          ? { codec: 'other' }
          : null,
      audio: s.audioConfig
        ? { codec: s.audioConfig.codec, sampleRate: num(m.audiosamplerate), channels: m.stereo === true ? 2 : m.stereo === false ? 1 : undefined }
        : null,
      bitrateKbps: Math.round((bytesPerSecond * 8) / 1000),
      fps: Math.round(fps * 10) / 10,
      bytesIn: s.bytesIn,
      packetsIn: s.packetsIn,
      droppedForSlowSubscribers: s.dropped,
    };
  }

  private safe(fn: () => void, where: string): void {
    try {
      fn();
    } catch (err) {
      this.options.onListenerError(err, where);
    }
  }
}
