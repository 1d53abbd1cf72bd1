import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, JUMP_S, KEEP_S, LIVE_MARGIN_S, liveEdge, type Ranges } from './realtime-buffer';

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

test('at the target: 1x; a little late: 1.05x, more late: 1.1x; back to 1x near the target (hysteresis)', () => {
  const r = ranges([100, 110]);
  assert.equal(decide({ currentTime: 110 - LIVE_MARGIN_S, buffered: r, catchingUp: false }).rate, 1);
  assert.equal(decide({ currentTime: 109.65, buffered: r, catchingUp: false }).rate, 1.05);
  assert.equal(decide({ currentTime: 109.2, buffered: r, catchingUp: false }).rate, 1.1);
  assert.equal(decide({ currentTime: 109.75, buffered: r, catchingUp: true }).rate, 1.05, 'still catching up at 0.25 s');
  assert.equal(decide({ currentTime: 109.75, buffered: r, catchingUp: false }).rate, 1, 'not starting at 0.25 s');
  assert.equal(decide({ currentTime: 109.8, buffered: r, catchingUp: true }).rate, 1);
  assert.equal(decide({ currentTime: 109.5, buffered: r, catchingUp: false }).seek, null);
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
