/**
 * hls.js settings of the watch page, in one place so the latency benchmark (bench/latency) measures exactly these.
 * `lowLatencyMode` is set by the caller.
 */
export const WATCH_HLS_CONFIG = {
  /** hls.js's own catch-up off: the watch page's (catch-up.ts) also works with under 1 s buffered. */
  maxLiveSyncPlaybackRate: 1,
  backBufferLength: 10,
  /**
   * hls.js by default adds 1 s to its live delay after every stall, for the rest of the session. Our playlist
   * keeps the timeline gap-free, so a stall is a moment of CPU or network trouble, not a lasting reason to
   * sit a second further behind; PART-HOLD-BACK already keeps three parts in hand.
   */
  liveSyncOnStallIncrease: 0,
  /**
   * hls.js moves on to the next segment once the buffer is within this of the current one's end (default 0.25 s).
   * A live segment's last part is often shorter than that (the frames between the last part boundary and the next
   * keyframe, 40-70 ms here), so a player that is one part behind skipped it and stalled on the hole it left. Parts
   * already loaded are tracked by hls.js per part, so a small tolerance loads nothing twice.
   */
  maxFragLookUpTolerance: 0.01,
} as const;
