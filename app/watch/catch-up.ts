/**
 * Catching up to the live edge with the playback rate (the watch page's own, instead of hls.js's).
 *
 * hls.js (low-latency mode) raises the playback rate only while more than 1 s is buffered ahead of the playhead. With
 * 200 ms parts and a PART-HOLD-BACK of 0.6-0.7 s the buffer ahead is normally ~0.4-0.6 s, so after any stall (a late
 * part, a busy CPU) the viewer stays that much further behind for good (measured here: ~1.3 s instead of ~0.9 s).
 * Adding our own rate on top of hls.js's made them fight (hls.js resets the rate to 1 on every timeupdate, and each
 * change costs the audio renderer time), so the watch page turns hls.js's off (`maxLiveSyncPlaybackRate: 1`, see
 * hls-config.ts) and this decides alone: when behind hls.js's target latency with enough buffered to spare, play a
 * little faster (pitch kept by the browser) until back on target.
 *
 * No DOM types beyond what is used, so the latency benchmark's viewer page (bench/latency) runs this same file.
 */

/** Below this much buffered ahead, never speed up (that would only run into a stall). */
export const MIN_BUFFER_S = 0.3;
/** Behind the target by more than this before speeding up; back to 1x within `STOP_S`. */
export const START_S = 0.1;
export const STOP_S = 0.03;
export const MAX_RATE = 1.5;
/** Further behind than this is not "a little late" but a viewer who paused or seeked: leave it to them (jump to live). */
export const GIVE_UP_S = 3;

export interface CatchUpState {
  /** Live edge minus playhead, s (hls.js `latency`). */
  latency: number;
  /** hls.js `targetLatency`, s. */
  target: number;
  /** Media buffered ahead of the playhead, s. */
  bufferAhead: number;
  /** Whether we are catching up now (playing faster than 1x). */
  active: boolean;
}

/** The playback rate for this moment: 1, or up to `MAX_RATE` in steps of 0.05 (few changes: each costs a little). */
export function catchUpRate(s: CatchUpState): number {
  if (!(s.latency > 0) || !(s.target > 0)) return 1;
  const behind = s.latency - s.target;
  if (behind > GIVE_UP_S || s.bufferAhead < MIN_BUFFER_S) return 1;
  if (!(s.active ? behind > STOP_S : behind > START_S)) return 1;
  // +5 % per 0.1 s behind, from 1.05.
  return Math.min(MAX_RATE, Math.max(1.05, Math.round((1 + behind / 2) * 20) / 20));
}

interface MediaLike {
  currentTime: number;
  playbackRate: number;
  paused: boolean;
  buffered: { length: number; start(i: number): number; end(i: number): number };
  addEventListener(type: 'timeupdate', fn: () => void): void;
  removeEventListener(type: 'timeupdate', fn: () => void): void;
}

interface HlsLike {
  latency: number;
  targetLatency: number | null;
}

/** Seconds buffered from the playhead to the end of the range that holds it. */
export function bufferAheadOf(media: Pick<MediaLike, 'currentTime' | 'buffered'>): number {
  const t = media.currentTime;
  for (let i = 0; i < media.buffered.length; i++) {
    if (media.buffered.start(i) <= t + 0.05 && t < media.buffered.end(i)) return media.buffered.end(i) - t;
  }
  return 0;
}

/** Runs `catchUpRate` on every timeupdate and sets the rate when it changes. Returns a detach. */
export function attachCatchUp(hls: HlsLike, media: MediaLike): () => void {
  const onTimeupdate = () => {
    if (media.paused) return;
    const rate = catchUpRate({ latency: hls.latency, target: hls.targetLatency ?? 0, bufferAhead: bufferAheadOf(media), active: media.playbackRate > 1 });
    if (media.playbackRate !== rate) media.playbackRate = rate;
  };
  media.addEventListener('timeupdate', onTimeupdate);
  return () => media.removeEventListener('timeupdate', onTimeupdate);
}
