/**
 * What the realtime player does with its small buffer, decided from the playhead and the buffered ranges alone (no
 * DOM: unit-tested, and cheap to run a few times a second).
 *
 * The frames do not come one by one: a browser publisher's MediaRecorder hands them out in ~100 ms chunks, so the
 * buffer ahead is a sawtooth, highest right after a chunk is appended and lowest just before the next one. What
 * decides whether playback stalls is that low point, so that is what the player steers (`Trough` keeps it): the
 * least buffered ahead seen just before an append over the last couple of seconds, kept near `target` (~0.1 s; the
 * player raises it after each stall it had, `StallGuard`). Steering the buffer as sampled at any moment instead
 * (a fixed ~0.2 s margin) kept ~0.1 s more than needed on average.
 *
 * - the low point over the target: play at 1.05-1.25x (pitch kept) until back on it;
 * - the low point under the target by more than `SLOW_S`: play at `SLOW_RATE` until back on it. The publisher's media
 *   clock may run a little slower than the viewer's (a loaded encoder: measured 0.98x), and then the playhead creeps
 *   up on the edge until it stalls; without this the steering only ever sped up, so the low point drifted from the
 *   target to nothing in ~15 s and each stall raised the target for 30 s;
 * - far behind (over `JUMP_S`: a stall, a background tab, the first join at the GOP's keyframe): jump to the edge;
 * - not in a buffered range (the start, or a hole after the server skipped us to a keyframe): seek to the next one;
 * - drop what is older than `KEEP_S` behind the playhead, so memory stays bounded.
 */

/** Where a seek to the live edge lands, behind the newest frame (s): a chunk's worth above the low-point target. */
export const LIVE_MARGIN_S = 0.2;
/** The low point of the buffer the player aims at to begin with, and the most it raises it to after stalls (s). */
export const TARGET_S = 0.1;
export const MAX_TARGET_S = 0.3;
/** Start catching up this far over the target; stop once back within `STOP_S` of it. */
export const START_S = 0.06;
export const STOP_S = 0.01;
export const MAX_RATE = 1.25;
/** Slow down once the low point is this far under the target, to `SLOW_RATE`, until it is back on it. */
export const SLOW_S = 0.03;
export const SLOW_RATE = 0.95;
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
  /** Playing slower than 1x now (for the hysteresis). */
  slowingDown?: boolean;
  /** The buffer's recent low point (s ahead of the playhead, `Trough.low`); without one, what is ahead now. */
  low?: number | null;
  /** The low point to keep (s); `TARGET_S` unless given. */
  target?: number;
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

/** The catch-up rate for a low point `late` s over the target: 1.05 and +0.05 per 0.1 s, at most `MAX_RATE`. */
export function catchUpRate(late: number): number {
  return Math.min(MAX_RATE, Math.max(1.05, Math.round((1 + late / 2) * 20) / 20));
}

export function decide(s: BufferState): BufferAction {
  const b = s.buffered;
  const edge = liveEdge(b);
  if (edge === null) return { seek: null, rate: 1, removeTo: null };
  const t = s.currentTime;
  const aim = s.target ?? TARGET_S;
  const margin = Math.max(LIVE_MARGIN_S, aim + 0.1);
  const target = Math.max(b.start(b.length - 1), edge - margin);
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
  const late = Math.min(behind, s.low ?? behind) - aim;
  const catchUp = s.catchingUp ? late > STOP_S : late > START_S;
  if (catchUp) return { seek: null, rate: catchUpRate(late), removeTo };
  const slow = s.slowingDown ? late < 0 : late < -SLOW_S;
  return { seek: null, rate: slow ? SLOW_RATE : 1, removeTo };
}

/**
 * The buffer's low point: what was ahead of the playhead just before each append (the bottom of the sawtooth), the
 * least over the last `windowMs`. A seek or stall resets it (the old samples describe another position).
 *
 * Given the playhead with each sample and with the question, each sample is moved to the playhead of now: the edge
 * goes on at 1x in wall time, so a playhead that went further than the wall clock since (catching up at 1.2x) has
 * that much less ahead, one that went less (slowing down) that much more. Without it a rate change showed in the low
 * point only once the window had forgotten the samples from before it, and the player kept catching up (or slowing
 * down) for up to a window too long.
 */
export class Trough {
  private samples: Array<{ at: number; ahead: number; playhead: number | null }> = [];
  constructor(private readonly windowMs = 2000) {}

  add(at: number, ahead: number, playhead: number | null = null): void {
    if (!Number.isFinite(ahead)) return;
    const s = this.samples;
    while (s.length && (s[0].at <= at - this.windowMs || s.length >= 256)) s.shift();
    s.push({ at, ahead, playhead });
  }

  /** The least sample within the window before `now` (at the playhead `playhead`, if given), or null with none. */
  low(now: number, playhead: number | null = null): number | null {
    let min: number | null = null;
    for (const x of this.samples) {
      if (x.at <= now - this.windowMs) continue;
      const moved = playhead !== null && x.playhead !== null ? playhead - x.playhead - (now - x.at) / 1000 : 0;
      const v = x.ahead - moved;
      if (min === null || v < min) min = v;
    }
    return min;
  }

  reset(): void {
    this.samples = [];
  }
}

/**
 * The low-point target: `TARGET_S`, raised by `STEP_S` after each stall (up to `MAX_TARGET_S`), lowered again by a
 * step after each `CALM_MS` without one. A slow machine or a jittery publisher thus gets the buffer it needs, a
 * quiet one keeps the small one.
 */
export class StallGuard {
  static readonly STEP_S = 0.05;
  static readonly CALM_MS = 30_000;
  private value = TARGET_S;
  private lastChange = 0;

  target(now: number): number {
    if (this.value > TARGET_S && now - this.lastChange >= StallGuard.CALM_MS) {
      this.value = Math.max(TARGET_S, this.value - StallGuard.STEP_S);
      this.lastChange = now;
    }
    return this.value;
  }

  stalled(now: number): void {
    this.value = Math.min(MAX_TARGET_S, this.value + StallGuard.STEP_S);
    this.lastChange = now;
  }
}
