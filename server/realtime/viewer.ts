/**
 * One realtime viewer: a hub subscriber that sends fMP4 over its WebSocket. It sends the init segment, then the
 * cached GOP from its keyframe (one message), then each frame's fragment as the stream's batching group flushes it
 * (relay/fanout.ts: the same shared Buffers as every other viewer of the stream, one message per flush).
 *
 * A video frame goes out when the next video frame arrives, with its exact duration (encoder.ts says why); audio as it
 * arrives. The held frame goes out with an estimated duration when the publisher goes away.
 */
import type { MediaPacket } from '../codec/flv';
import type { StreamInit, SubscriberSink } from '../media/hub';
import type { FanoutGroup, PlayerQueue } from '../relay/fanout';
import { sameConfig, type FragmentEncoder, type RealtimeTracks } from './encoder';
import { textFrame } from './frame';

/** A clock message (docs/realtime-protocol.md): its text, and that text as one WebSocket text frame. */
export interface ClockMessage {
  text: string;
  frame: Buffer;
}

/** What the viewer needs of its socket (a `ws` WebSocket). */
export interface ViewerSocket {
  /** Media as one binary message; then `clock`, if given, as a text message in the same socket write. */
  send(bytes: Buffer, clock?: ClockMessage): void;
  readonly bufferedAmount: number;
}

/** Audio fragments that may wait for the first video keyframe after an init segment (~1 s of AAC). */
const MAX_AUDIO_BEFORE_KEY = 50;

/** How often the clock message goes out (and once right after each init segment). */
export const CLOCK_INTERVAL_MS = 1000;

/** The clock message: the stream timeline (ms) of the newest frame sent, and the server's wall clock for it. */
export function clockMessage(mediaMs: number, wallMs: number): string {
  return JSON.stringify({ clock: { mediaMs, wallMs } });
}

/** The clock message of a frame, made once for every viewer that sends it (viewers in sync pick the same frames). */
const clocks = new WeakMap<MediaPacket, ClockMessage>();
function clockOf(p: MediaPacket): ClockMessage {
  let c = clocks.get(p);
  if (!c) {
    const text = clockMessage(p.dts, p.captureTime ?? p.receivedAt);
    clocks.set(p, (c = { text, frame: textFrame(text) }));
  }
  return c;
}

export class RealtimeViewer implements SubscriberSink {
  readonly kind = 'realtime';
  private readonly queue: PlayerQueue;
  private tracks: RealtimeTracks | null = null;
  private videoConfig: MediaPacket | null = null;
  private audioConfig: MediaPacket | null = null;
  private done = false;
  /**
   * The second (of the frames' arrival times) of the last clock message, whether the newest init still needs one, and
   * the message waiting for the next media write. Seconds of the arrival time, not of each viewer's own clock, so the
   * viewers in sync pick the same frame for it, and it rides in their media write (no write of its own).
   */
  private clockSecond = -1;
  private clockDue = false;
  private pendingClock: ClockMessage | null = null;
  /** The newest video frame, not sent yet: its duration is known when the next one arrives. */
  private held: MediaPacket | null = null;
  /** Audio after a new init segment, sent right after the keyframe that starts the video (so that comes first). */
  private audioBeforeKey: Buffer[] | null = null;

  constructor(
    private readonly socket: ViewerSocket,
    private readonly encoder: FragmentEncoder,
    group: FanoutGroup,
    /** The subscription is over: `reason` is the hub's ('stream ended', 'subscriber too slow', ...) or ours. */
    private readonly onEnd: (reason: string) => void,
  ) {
    this.queue = group.join({ write: (b) => this.socket.send(b, this.takeClock()) }, true);
  }

  start(init: StreamInit): void {
    this.queue.flush();
    this.held = null;
    this.audioBeforeKey = null;
    this.tracks = null;
    this.videoConfig = init.videoConfig;
    this.audioConfig = init.audioConfig;
    const out: Buffer[] = [];
    for (const p of init.gop) this.take(p, (b) => out.push(b));
    this.clock(init.gop.at(-1));
    if (out.length && !this.done) this.socket.send(out.length === 1 ? out[0] : Buffer.concat(out), this.takeClock());
  }

  packet(p: MediaPacket): void {
    this.take(p, (b) => this.queue.push(b));
    this.clock(p);
  }

  /**
   * The clock message for `p` (the newest frame), if one is due: after an init segment, then once a second (when a
   * frame's arrival time enters a new second). It goes out with the next media write.
   */
  private clock(p: MediaPacket | undefined): void {
    if (this.done || !this.tracks || !p || p.config) return;
    const second = Math.floor(p.receivedAt / CLOCK_INTERVAL_MS);
    if (!this.clockDue && second === this.clockSecond) return;
    this.clockDue = false;
    this.clockSecond = second;
    this.pendingClock = clockOf(p);
  }

  private takeClock(): ClockMessage | undefined {
    const c = this.pendingClock ?? undefined;
    this.pendingClock = null;
    return c;
  }

  unpublished(): void {
    // The publisher may come back within the grace period; the player just waits. A new publish calls start().
    this.release(null, (b) => this.queue.push(b));
    this.queue.flush();
  }

  end(reason: string): void {
    if (this.done) return;
    this.queue.flush();
    this.detach();
    this.onEnd(reason);
  }

  bufferedBytes(): number {
    return this.socket.bufferedAmount + this.queue.bytes;
  }

  /** The socket is gone (or the viewer ends): drop what is queued. Idempotent. */
  detach(): void {
    this.done = true;
    this.queue.leave();
  }

  private take(p: MediaPacket, out: (b: Buffer) => void): void {
    if (this.done) return;
    if (p.config) {
      // New codec parameters: a new init segment at the next keyframe (after the held frame, of the old ones).
      if (this.tracks && !sameConfig(p.kind === 'video' ? this.tracks.videoConfig : this.tracks.audioConfig, p)) this.release(null, out);
      if (p.kind === 'video') {
        this.videoConfig = p;
        if (this.tracks && !sameConfig(this.tracks.videoConfig, p)) this.tracks = null;
      } else {
        this.audioConfig = p;
        if (this.tracks && !sameConfig(this.tracks.audioConfig, p)) this.tracks = null;
      }
      return;
    }
    if (p.codec === 'other' || p.data.length === 0) {
      // A stream with nothing we can put into fMP4 (e.g. MP3 audio only) ends here rather than staying silent.
      if (!this.tracks && p.codec === 'other' && !this.encoder.tracks(this.videoConfig, this.audioConfig)) this.end('unsupported codec');
      return;
    }
    if (!this.tracks) {
      const isKey = p.kind === 'video' && p.keyframe;
      if (this.videoConfig?.codec === 'h264' && !isKey) return; // start on a keyframe
      const t = this.encoder.tracks(this.videoConfig, this.audioConfig);
      if (!t) {
        this.end('unsupported codec');
        return;
      }
      if (t.video && !isKey) return;
      this.tracks = t;
      this.clockDue = true;
      this.audioBeforeKey = t.video ? [] : null;
      out(t.init);
    }
    if (p.kind === 'video') {
      this.release(p, out);
      this.held = p;
      return;
    }
    const f = this.encoder.fragment(p, this.tracks);
    if (!f) return;
    if (!this.audioBeforeKey) return out(f);
    // Bounded: a stream whose video stops after its first keyframe sends that frame (estimated) and goes on.
    if (this.audioBeforeKey.push(f) > MAX_AUDIO_BEFORE_KEY) this.release(null, out);
  }

  /** The held video frame, its duration up to `next` (or estimated without one); then any audio that waited for it. */
  private release(next: MediaPacket | null, out: (b: Buffer) => void): void {
    const held = this.held;
    this.held = null;
    if (!this.tracks || this.done) return;
    const f = held && this.encoder.fragment(held, this.tracks, next);
    if (f) out(f);
    const audio = this.audioBeforeKey;
    if (audio && (f || next === null)) {
      this.audioBeforeKey = null;
      for (const a of audio) out(a);
    }
  }
}
