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
} as const;
