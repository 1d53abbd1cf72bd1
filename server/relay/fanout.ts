/**
 * Batched writes for the RTMP players of one stream.
 *
 * The server's cost at a few hundred players and more is the socket write itself (Node's write
 * path and the kernel's per-segment TCP work), one per media message per player: ~73 a second per
 * player for 30 fps video with AAC. So media messages are queued per player and written together:
 * one flush per stream serves every player in one pass, and the players that got every message of
 * that flush (nearly all: the ones not skipping to a keyframe, not just joined) share one
 * concatenation, so each gets exactly one `write` of one shared Buffer.
 *
 * When: each message is written at most `flushMs` after it arrived (the flush is due when the
 * oldest queued message is; a message may ask for a shorter wait, e.g. video frames with the
 * relay's `videoFlushMs`, 0 meaning the end of the current event-loop turn). With ffmpeg
 * publishing 30 fps video and 44.1 kHz AAC (~73 messages a second), 33 ms (the default: one
 * frame interval at 30 fps) gives about one write per video frame, ~30 a second per player
 * instead of 73 (15 ms: ~40 at 100 players, ~33 at 1000); 0 ms for video (audio waiting for the
 * next frame) ~39, and video then gets no added delay: see docs/BENCHMARKS.md. For comparison,
 * SRS merges writes over 350 ms by default (`mw_latency`) and 100 ms in its low-latency setup.
 *
 * The bytes and their order on each connection are the same as without batching.
 */

/**
 * Default batching window: one frame interval at 30 fps, so a player gets about one write per frame. At 100 players
 * that is what puts our CPU per player at or below nginx-rtmp's (15 ms did not: docs/BENCHMARKS.md, RTMP fan-out);
 * it adds ~17 ms on average to an RTMP player's delay. `RTMP_WRITE_BATCH_MS` changes it.
 */
export const DEFAULT_FLUSH_MS = 33;
/** Default wait of video frames: the same (0 would write them at the end of the turn they came in). */
export const DEFAULT_VIDEO_FLUSH_MS = DEFAULT_FLUSH_MS;

/** What `rtmpRelay` uses when not told (diagnostic switches of bench/serve.ts change them). */
export const fanoutDefaults = { flushMs: DEFAULT_FLUSH_MS, videoFlushMs: DEFAULT_VIDEO_FLUSH_MS };

export interface FanoutWriter {
  write(bytes: Buffer): void;
}

/** The media queued for one player, written by its group's flush (or at once, by `flush()`). */
export class PlayerQueue {
  private bufs: Buffer[] = [];
  /** Bytes queued and not yet handed to the writer. */
  bytes = 0;
  /** In the group's list for its next flush. */
  listed = false;
  private left = false;

  constructor(
    private readonly group: FanoutGroup,
    private readonly writer: FanoutWriter,
    /** Its buffers are the stream's shared encodings (the ones `FanoutGroup.push` may see from other players). */
    readonly shared: boolean,
  ) {}

  /**
   * Queue one encoded message (written at once when the group does not batch), to be written at
   * most `waitMs` from now (default: the group's `flushMs`; 0: at the end of this event-loop turn).
   */
  push(bytes: Buffer, waitMs = this.group.flushMs): void {
    if (this.left) return;
    if (this.group.flushMs <= 0) {
      this.writer.write(bytes);
      return;
    }
    this.bufs.push(bytes);
    this.bytes += bytes.length;
    this.group.queued(this, bytes, waitMs);
  }

  /** Write what is queued now (before anything else is sent to this player). */
  flush(): void {
    this.write(null);
  }

  /** Drop what is queued and leave the group (the player is gone or stopped playing). Idempotent. */
  leave(): void {
    if (this.left) return;
    this.left = true;
    this.bufs = [];
    this.bytes = 0;
    this.group.leave();
  }

  /** Holds exactly the group's shared messages of this flush? */
  inSync(tickLength: number): boolean {
    return this.shared && this.bufs.length === tickLength;
  }

  get length(): number {
    return this.bufs.length;
  }

  /** @internal For the group's flush: `whole` is this queue's content as one Buffer, when known. */
  write(whole: Buffer | null): void {
    const n = this.bufs.length;
    if (n === 0) return;
    const out = whole ?? (n === 1 ? this.bufs[0] : Buffer.concat(this.bufs, this.bytes));
    this.bufs = [];
    this.bytes = 0;
    this.writer.write(out);
  }
}

/**
 * The RTMP players of one stream. Not tied to a socket or a hub: it is handed encoded messages
 * and writers.
 */
export class FanoutGroup {
  /** The shared encodings queued since the last flush, in order (each once). */
  private tick: Buffer[] = [];
  private tickBytes = 0;
  private list: PlayerQueue[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The timer's wait and when it is due (Date.now() ms). */
  private timerWait = 0;
  private timerDue = 0;
  private immediate: ReturnType<typeof setImmediate> | null = null;
  private members = 0;

  constructor(
    readonly flushMs: number,
    /** Called when the last player left (the owner may forget the group). */
    private readonly onEmpty: () => void = () => undefined,
  ) {}

  /** A new player; `shared` when it is sent the stream's shared encodings (message stream 1). */
  join(writer: FanoutWriter, shared: boolean): PlayerQueue {
    this.members++;
    return new PlayerQueue(this, writer, shared);
  }

  get size(): number {
    return this.members;
  }

  /** Is a flush scheduled? (For tests.) */
  get pending(): boolean {
    return this.timer !== null || this.immediate !== null;
  }

  /** @internal */
  queued(q: PlayerQueue, bytes: Buffer, waitMs: number): void {
    if (q.shared && this.tick[this.tick.length - 1] !== bytes) {
      this.tick.push(bytes);
      this.tickBytes += bytes.length;
    }
    if (!q.listed) {
      q.listed = true;
      this.list.push(q);
    }
    if (this.immediate) return;
    if (waitMs <= 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.immediate = setImmediate(this.flushAll);
      this.immediate.unref?.();
      return;
    }
    // The flush is due when the most urgent queued message is (each player gets the same
    // messages in the same turn, so this looks at the clock at most once per message).
    if (this.timer && waitMs >= this.timerWait) return;
    const due = Date.now() + waitMs;
    if (this.timer) {
      if (due >= this.timerDue) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(this.flushAll, waitMs);
    this.timer.unref?.();
    this.timerWait = waitMs;
    this.timerDue = due;
  }

  /** @internal */
  leave(): void {
    if (--this.members > 0) return;
    this.clear();
    this.onEmpty();
  }

  /** Write every player's queue now: in-sync players get one shared Buffer. */
  readonly flushAll = (): void => {
    const tick = this.tick;
    const tickBytes = this.tickBytes;
    const list = this.list;
    this.clear();
    let whole: Buffer | null = null;
    for (const q of list) {
      q.listed = false;
      if (q.length === 0) continue;
      if (q.inSync(tick.length)) {
        whole ??= tick.length === 1 ? tick[0] : Buffer.concat(tick, tickBytes);
        q.write(whole);
      } else q.write(null);
    }
  };

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.tick = [];
    this.tickBytes = 0;
    this.list = [];
  }
}
