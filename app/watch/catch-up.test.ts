import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attachCatchUp, bufferAheadOf, catchUpRate, MAX_RATE } from './catch-up';

const at = (latency: number, bufferAhead: number, active = false) => catchUpRate({ latency, target: 0.65, bufferAhead, active });

test('behind the target with a usable buffer under 1 s: play faster, more when further behind, capped', () => {
  assert.equal(at(0.9, 0.6), 1.13);
  assert.equal(at(0.8, 0.6), 1.08);
  assert.equal(at(3, 0.9), MAX_RATE);
  assert.equal(at(0.7, 0.6), null, 'within the start threshold: leave it');
});

test('more than 1 s buffered is hls.js territory; too little buffer never speeds up', () => {
  assert.equal(at(2, 1.5), null);
  assert.equal(at(2, 1.5, true), null);
  assert.equal(at(1.2, 0.1), null);
  assert.equal(at(1.2, 0.1, true), 1, 'we stop our own catch-up when the buffer runs low');
});

test('hysteresis: once catching up, keep on until close to the target, then back to 1x', () => {
  assert.ok((at(0.72, 0.5, true) ?? 0) > 1, 'still 0.07 s behind');
  assert.equal(at(0.67, 0.5, true), 1);
  assert.equal(catchUpRate({ latency: 0, target: 0, bufferAhead: 0.5, active: true }), 1, 'no estimate: back to 1x');
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

test('attachCatchUp sets the rate on timeupdate after hls.js has reset it, and detaches', () => {
  let fn: (() => void) | null = null;
  const media = {
    currentTime: 10,
    playbackRate: 1,
    paused: false,
    buffered: { length: 1, start: () => 0, end: () => 10.6 },
    addEventListener: (_t: 'timeupdate', f: () => void) => (fn = f),
    removeEventListener: () => (fn = null),
  };
  const hls = { latency: 1.0, targetLatency: 0.65 };
  const detach = attachCatchUp(hls, media);
  fn!();
  assert.ok(media.playbackRate > 1);
  hls.latency = 0.66;
  fn!();
  assert.equal(media.playbackRate, 1);
  detach();
  assert.equal(fn, null);
});
