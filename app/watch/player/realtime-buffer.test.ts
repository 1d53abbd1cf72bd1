import assert from 'node:assert/strict';
import { test } from 'node:test';
import { catchUpRate, decide, JUMP_S, KEEP_S, LIVE_MARGIN_S, liveEdge, MAX_RATE, MAX_TARGET_S, SLOW_RATE, SLOW_S, StallGuard, TARGET_S, Trough, type Ranges } from './realtime-buffer';

const ranges = (...r: Array<[number, number]>): Ranges => ({ length: r.length, start: (i) => r[i][0], end: (i) => r[i][1] });
const near = (a: number | null, b: number) => assert.ok(a !== null && Math.abs(a - b) < 1e-9, `${a} ≈ ${b}`);

test('nothing buffered: nothing to do', () => {
  assert.deepEqual(decide({ currentTime: 0, buffered: ranges(), catchingUp: false }), { seek: null, rate: 1, removeTo: null });
  assert.equal(liveEdge(ranges()), null);
});

test('first media (a GOP from its keyframe, timeline not at 0): seek into it, at the live target when far behind', () => {
  // 1 s of GOP: the playhead at 0 is before it; join near its end.
  near(decide({ currentTime: 0, buffered: ranges([1000, 1001]), catchingUp: false }).seek, 1001 - LIVE_MARGIN_S);
  // A short buffer: its start (the live target is before it).
  near(decide({ currentTime: 0, buffered: ranges([1000, 1000.1]), catchingUp: false }).seek, 1000);
});

test('the low point on target: 1x; over it: 1.05x and up with how late, at most MAX_RATE; back to 1x near it (hysteresis)', () => {
  const r = ranges([100, 110]);
  // Right after an append 0.2 s are ahead, but the low point (just before appends) is on target: no catch-up.
  assert.equal(decide({ currentTime: 109.8, buffered: r, catchingUp: false, low: TARGET_S }).rate, 1);
  assert.equal(decide({ currentTime: 109.8, buffered: r, catchingUp: false, low: TARGET_S + 0.05 }).rate, 1, 'not starting 0.05 s over');
  assert.equal(decide({ currentTime: 109.8, buffered: r, catchingUp: true, low: TARGET_S + 0.05 }).rate, 1.05, 'still catching up 0.05 s over');
  assert.equal(decide({ currentTime: 109.8, buffered: r, catchingUp: true, low: TARGET_S + 0.005 }).rate, 1);
  assert.equal(decide({ currentTime: 109.5, buffered: r, catchingUp: false, low: 0.45 }).rate, 1.2);
  assert.equal(decide({ currentTime: 109, buffered: r, catchingUp: false, low: 1 }).rate, MAX_RATE);
  // Without a low point yet: what is ahead now.
  assert.equal(decide({ currentTime: 109.8, buffered: r, catchingUp: false }).rate, 1.05);
  // A raised target (after stalls) keeps more.
  assert.equal(decide({ currentTime: 109.8, buffered: r, catchingUp: false, low: 0.2, target: 0.2 }).rate, 1);
  assert.equal(decide({ currentTime: 109.5, buffered: r, catchingUp: false, low: 0.45 }).seek, null);
  assert.equal(catchUpRate(0.07), 1.05);
  assert.equal(catchUpRate(0.3), 1.15);
});

test('the low point under the target: slower than 1x until back on it (hysteresis); a little under: 1x', () => {
  const r = ranges([100, 110]);
  const at = (low: number, slowingDown = false) => decide({ currentTime: 109.8, buffered: r, catchingUp: false, slowingDown, low }).rate;
  assert.equal(at(TARGET_S - SLOW_S / 2), 1, 'within the band');
  assert.equal(at(TARGET_S - SLOW_S - 0.01), SLOW_RATE);
  assert.ok(SLOW_RATE < 1 && SLOW_RATE >= 0.9, 'a slow-down nobody hears (pitch is kept)');
  assert.equal(at(TARGET_S - 0.005, true), SLOW_RATE, 'still slowing just under the target');
  assert.equal(at(TARGET_S + 0.001, true), 1, 'back on target: 1x');
  assert.equal(at(0, false), SLOW_RATE, 'nothing left at the low point');
});

test('the low point follows the playhead: samples from before a faster (or slower) stretch count what it changed', () => {
  const t = new Trough(2000);
  // 1x: the playhead moves with the wall clock, the samples stand as they are.
  t.add(0, 0.2, 50);
  t.add(100, 0.15, 50.1);
  near(t.low(200, 50.2)!, 0.15);
  // Then 1.25x for 0.4 s: the playhead went 0.1 s further than the wall clock, so 0.1 s less is ahead.
  near(t.low(600, 50.7)!, 0.05);
  // Slower than the wall clock: more ahead.
  near(t.low(600, 50.5)!, 0.15 + 0.1);
  // Without playheads: as sampled.
  const plain = new Trough(2000);
  plain.add(0, 0.2);
  near(plain.low(600, 51)!, 0.2);
});

test('the low point is the least buffered ahead just before appends over the window; a reset forgets it', () => {
  const t = new Trough(2000);
  assert.equal(t.low(0), null);
  // A sawtooth: 0.25 s after each chunk, 0.12 s just before the next.
  for (let ms = 0; ms < 3000; ms += 100) t.add(ms, ms % 200 === 0 ? 0.12 : 0.25);
  assert.equal(t.low(3000), 0.12);
  t.add(3100, 0.05);
  assert.equal(t.low(3100), 0.05);
  assert.equal(t.low(5200), null, 'older than the window');
  t.add(5300, 0.3);
  t.reset();
  assert.equal(t.low(5300), null);
  t.add(0, NaN);
  assert.equal(t.low(0), null);
});

test('each stall raises the low-point target a step (bounded); a calm spell lowers it again', () => {
  const g = new StallGuard();
  assert.equal(g.target(0), TARGET_S);
  g.stalled(1000);
  near(g.target(1000), TARGET_S + StallGuard.STEP_S);
  for (let i = 0; i < 20; i++) g.stalled(2000 + i);
  near(g.target(3000), MAX_TARGET_S);
  near(g.target(2019 + StallGuard.CALM_MS), MAX_TARGET_S - StallGuard.STEP_S);
  let now = 2019 + StallGuard.CALM_MS;
  for (let i = 0; i < 10; i++) g.target((now += StallGuard.CALM_MS));
  near(g.target(now), TARGET_S);
});

test('far behind (stall, background tab): jump to the live edge minus the margin', () => {
  const a = decide({ currentTime: 110 - JUMP_S - 0.1, buffered: ranges([100, 110]), catchingUp: true });
  near(a.seek, 110 - LIVE_MARGIN_S);
  assert.equal(a.rate, 1);
});

test('a hole (the server skipped us to the next keyframe): seek over it', () => {
  const b = ranges([100, 105], [105.5, 105.9]);
  // At the end of the first range: to the start of the next (it is also the last: the target inside it).
  near(decide({ currentTime: 104.98, buffered: b, catchingUp: false }).seek, 105.7);
  // Stuck inside the hole.
  near(decide({ currentTime: 105.2, buffered: b, catchingUp: false }).seek, 105.7);
  // Between two older ranges: the next one's start.
  near(decide({ currentTime: 101.5, buffered: ranges([100, 101.5], [102, 102.5], [102.6, 102.8]), catchingUp: false }).seek, 102);
  // At the very edge of the last range: nothing to seek to, wait.
  assert.equal(decide({ currentTime: 105.9, buffered: b, catchingUp: false }).seek, null);
});

test('old media is removed once more than KEEP_S (+ slack) piles up, never what is ahead', () => {
  const t = 200;
  const little = decide({ currentTime: t, buffered: ranges([t - KEEP_S - 1, t + 0.2]), catchingUp: false });
  assert.equal(little.removeTo, null);
  const much = decide({ currentTime: t, buffered: ranges([t - 60, t + 0.2]), catchingUp: false });
  near(much.removeTo, t - KEEP_S);
  assert.ok(much.removeTo! < t);
});
