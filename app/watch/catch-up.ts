/**
 * Catching up to the live edge when hls.js will not.
 *
 * hls.js (low-latency mode) raises the playback rate only while more than 1 s is buffered ahead of the playhead. With
 * 200 ms parts and a PART-HOLD-BACK of 0.6-0.7 s the buffer ahead is normally ~0.4-0.6 s, so after any stall (a late
 * part, a busy CPU) the viewer stays that much further behind for good: measured here, ~1.3 s instead of ~0.9 s.
 * This fills the gap: between `MIN_BUFFER_S` and 1 s of buffer, when behind hls.js's own target latency, play a little
 * faster (at most `MAX_RATE`, pitch kept by the browser) until back on target. Above 1 s of buffer hls.js decides.
 *
 * No DOM types beyond what is used, so the latency benchmark's viewer page (bench/latency) runs this same file.
 */

/** Below this much buffered ahead, never speed up (that would only run into a stall). */
export const MIN_BUFFER_S = 0.3;
/** Behind the target by more than this before speeding up; back to 1x within `STOP_S`. */
export const START_S = 0.12;
export const STOP_S = 0.03;
export const MAX_RATE = 1.15;

export interface CatchUpState {
  /** Live edge minus playhead, s (hls.js `latency`). */
  latency: number;
  /** hls.js `targetLatency`, s. */
  target: number;
  /** Media buffered ahead of the playhead, s. */
  bufferAhead: number;
  /** Whether we are catching up now (our rate is in effect). */
  active: boolean;
}

/** The playback rate to set, or null to leave the rate to hls.js (more than 1 s buffered, or not our business). */
export function catchUpRate(s: CatchUpState): number | null {
  if (!(s.latency > 0) || !(s.target > 0)) return s.active ? 1 : null;
  if (s.bufferAhead > 1) return null;
  const behind = s.latency - s.target;
  const go = s.active ? behind > STOP_S : behind > START_S;
  if (!go || s.bufferAhead < MIN_BUFFER_S) return s.active ? 1 : null;
  // Gentle: +5 % per 0.1 s behind, from 1.05 up to MAX_RATE.
  return Math.min(MAX_RATE, Math.round((1 + Math.max(0.05, behind / 2)) * 100) / 100);
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

/**
 * Runs `catchUpRate` on every timeupdate. Call after `hls.attachMedia(media)`: listeners run in order, so this one
 * has the last word after hls.js's own (which resets the rate to 1 whenever it has nothing to do). Returns a detach.
 */
export function attachCatchUp(hls: HlsLike, media: MediaLike): () => void {
  let active = false;
  const onTimeupdate = () => {
    if (media.paused) return;
    const rate = catchUpRate({ latency: hls.latency, target: hls.targetLatency ?? 0, bufferAhead: bufferAheadOf(media), active });
    if (rate === null) {
      active = false;
      return;
    }
    active = rate !== 1;
    if (media.playbackRate !== rate) media.playbackRate = rate;
  };
  media.addEventListener('timeupdate', onTimeupdate);
  return () => media.removeEventListener('timeupdate', onTimeupdate);
}
