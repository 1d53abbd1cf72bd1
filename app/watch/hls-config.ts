/**
 * hls.js settings of the watch page, in one place so the latency benchmark (bench/latency) measures exactly these.
 * `lowLatencyMode` is set by the caller.
 */
export const WATCH_HLS_CONFIG = {
  /** Catch up to the live edge by playing up to 1.5x (hls.js only does this in low-latency mode). */
  maxLiveSyncPlaybackRate: 1.5,
  backBufferLength: 10,
  /**
   * hls.js by default adds 1 s to its live delay after every stall, for the rest of the session. Our playlist
   * keeps the timeline gap-free, so a stall is a moment of CPU or network trouble, not a lasting reason to
   * sit a second further behind; PART-HOLD-BACK already keeps three parts in hand.
   */
  liveSyncOnStallIncrease: 0,
} as const;
