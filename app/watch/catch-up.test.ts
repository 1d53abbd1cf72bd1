import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attachCatchUp, bufferAheadOf, catchUpRate, MAX_RATE } from './catch-up';

const at = (latency: number, bufferAhead: number, active = false) => catchUpRate({ latency, target: 0.65, bufferAhead, active });

test('behind the target with buffer to spare: play faster, more when further behind, capped', () => {
  assert.equal(at(0.8, 0.6), 1.1);
  assert.equal(at(0.95, 0.6), 1.15);
  assert.equal(at(1.2, 1.5), 1.3);
  assert.equal(at(2.5, 1.5), MAX_RATE);
  assert.equal(at(0.7, 0.6), 1, 'within the start threshold: 1x');
});

test('too little buffer, no estimate, or far behind (paused, seeked): 1x', () => {
  assert.equal(at(1.2, 0.1), 1);
  assert.equal(at(1.2, 0.1, true), 1);
  assert.equal(catchUpRate({ latency: 0, target: 0, bufferAhead: 0.5, active: true }), 1);
  assert.equal(at(5, 4), 1, 'leave it to jump-to-live');
});

test('hysteresis: once catching up, keep on until close to the target', () => {
  assert.equal(at(0.72, 0.5, false), 1, 'not started for 0.07 s');
  assert.equal(at(0.72, 0.5, true), 1.05, 'but kept on for 0.07 s');
  assert.equal(at(0.67, 0.5, true), 1);
});

test('bufferAheadOf reads the range that holds the playhead', () => {
  const ranges = [
    [0, 4],
    [4.2, 10],
  ];
  const buffered = { length: 2, start: (i: number) => ranges[i][0], end: (i: number) => ranges[i][1] };
  assert.equal(bufferAheadOf({ currentTime: 9.5, buffered }), 0.5);
  assert.equal(bufferAheadOf({ currentTime: 4.1, buffered }), 0, 'in a hole');
  assert.equal(bufferAheadOf({ currentTime: 11, buffered }), 0);
});

test('attachCatchUp sets the rate on timeupdate only when it changes, and detaches', () => {
  let fn: (() => void) | null = null;
  let sets = 0;
  let rate = 1;
  const media = {
    currentTime: 10,
    get playbackRate() {
      return rate;
    },
    set playbackRate(r: number) {
      sets++;
      rate = r;
    },
    paused: false,
    buffered: { length: 1, start: () => 0, end: () => 10.6 },
    addEventListener: (_t: 'timeupdate', f: () => void) => (fn = f),
    removeEventListener: () => (fn = null),
  };
  const hls = { latency: 1.0, targetLatency: 0.65 };
  const detach = attachCatchUp(hls, media);
  fn!();
  fn!();
  assert.equal(media.playbackRate, 1.2);
  assert.equal(sets, 1, 'set once');
  hls.latency = 0.66;
  fn!();
  assert.equal(media.playbackRate, 1);
  detach();
  assert.equal(fn, null);
});
