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
 * When: a video frame is flushed at the end of the current event-loop turn (with whatever else
 * came in the same turn), so video gets no added delay; audio waits for the next video frame, at
 * most `flushMs`. With ffmpeg publishing (its FLV interleaving sends audio just before video),
 * 30 fps video and 44.1 kHz AAC, 15 ms nearly halves the writes.
 *
 * The bytes and their order on each connection are the same as without batching.
 */

/** Default batching window: below one frame interval at 30 and 60 fps. */
export const DEFAULT_FLUSH_MS = 15;

/** What `rtmpRelay` uses when not told (a diagnostic switch of bench/serve.ts changes it). */
export const fanoutDefaults = { flushMs: DEFAULT_FLUSH_MS };

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
   * Queue one encoded message (written at once when the group does not batch). `soon`: flush at
   * the end of this event-loop turn (video frames), else within the group's `flushMs`.
   */
  push(bytes: Buffer, soon = false): void {
    if (this.left) return;
    if (this.group.flushMs <= 0) {
      this.writer.write(bytes);
      return;
    }
    this.bufs.push(bytes);
    this.bytes += bytes.length;
    this.group.queued(this, bytes, soon);
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
  queued(q: PlayerQueue, bytes: Buffer, soon: boolean): void {
    if (q.shared && this.tick[this.tick.length - 1] !== bytes) {
      this.tick.push(bytes);
      this.tickBytes += bytes.length;
    }
    if (!q.listed) {
      q.listed = true;
      this.list.push(q);
    }
    if (this.immediate) return;
    if (soon) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.immediate = setImmediate(this.flushAll);
      this.immediate.unref?.();
    } else if (!this.timer) {
      this.timer = setTimeout(this.flushAll, this.flushMs);
      this.timer.unref?.();
    }
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
