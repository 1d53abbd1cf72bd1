/**
 * What the realtime player does with its small buffer, decided from the playhead and the buffered ranges alone (no
 * DOM: unit-tested, and cheap to run a few times a second):
 *
 * - stay ~0.2 s behind the newest frame (`LIVE_MARGIN_S`): as little as the browser plays smoothly with, since the
 *   frames come one by one as they are made;
 * - a little late (over `RATE_START_S`): play at 1.05-1.1x until back within `RATE_STOP_S` (pitch kept);
 * - far behind (over `JUMP_S`: a stall, a background tab, the first join at the GOP's keyframe): jump to the edge;
 * - not in a buffered range (the start, or a hole after the server skipped us to a keyframe): seek to the next one;
 * - drop what is older than `KEEP_S` behind the playhead, so memory stays bounded.
 */

export const LIVE_MARGIN_S = 0.2;
export const RATE_START_S = 0.3;
export const RATE_STOP_S = 0.22;
export const JUMP_S = 1.5;
export const KEEP_S = 10;
/** Trim only once this much more than `KEEP_S` has piled up (one remove() every few seconds, not every tick). */
const TRIM_SLACK_S = 5;
/** A playhead this close to the end of its range, with a later range there, is at a hole. */
const HOLE_S = 0.05;

export interface Ranges {
  length: number;
  start(i: number): number;
  end(i: number): number;
}

export interface BufferState {
  currentTime: number;
  buffered: Ranges;
  /** Playing faster than 1x now (for the hysteresis). */
  catchingUp: boolean;
}

export interface BufferAction {
  /** Seek here (s), or null. */
  seek: number | null;
  rate: number;
  /** remove(0, removeTo), or null. */
  removeTo: number | null;
}

/** The newest buffered time (the live edge as far as this player knows), or null with nothing buffered. */
export function liveEdge(b: Ranges): number | null {
  return b.length ? b.end(b.length - 1) : null;
}

export function decide(s: BufferState): BufferAction {
  const b = s.buffered;
  const edge = liveEdge(b);
  if (edge === null) return { seek: null, rate: 1, removeTo: null };
  const t = s.currentTime;
  const target = Math.max(b.start(b.length - 1), edge - LIVE_MARGIN_S);
  let removeTo: number | null = b.start(0) < t - KEEP_S - TRIM_SLACK_S ? t - KEEP_S : null;

  const behind = edge - t;
  if (behind > JUMP_S) return { seek: target, rate: 1, removeTo };

  // In a range (and not at its very end with another one after it)?
  let inRange = false;
  let next: number | null = null;
  for (let i = 0; i < b.length; i++) {
    const start = b.start(i);
    const end = b.end(i);
    if (t >= start - 0.01 && t < end - (i < b.length - 1 ? HOLE_S : 0)) inRange = true;
    if (next === null && start > t) next = start;
  }
  if (!inRange) {
    if (next === null) return { seek: null, rate: 1, removeTo: null }; // at the edge: waiting for the next frame
    // The last range: join it at the live target rather than at its start.
    const to = next >= b.start(b.length - 1) ? target : next;
    return { seek: to, rate: 1, removeTo };
  }
  if (removeTo !== null && removeTo <= b.start(0)) removeTo = null;
  const late = behind - LIVE_MARGIN_S;
  const catchUp = s.catchingUp ? behind > RATE_STOP_S : behind > RATE_START_S;
  const rate = catchUp ? (late > 0.4 ? 1.1 : 1.05) : 1;
  return { seek: null, rate, removeTo };
}
