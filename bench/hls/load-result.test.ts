import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readProbe, summarizeLoad, type ProbeData, type RawLoad } from './load-result';

const FROM = 10_000;
const TO = 20_000;

/** Receive times of one part by viewer (index = viewer number); ttfb = recv − 1. */
type Copies = Record<string, number[]>;

/** The RawLoad a process simulating viewers [first, first + n) would write (trimmed as viewer-load.ts does). */
function rawOf(copies: Copies, first: number, n: number, over: Partial<RawLoad> = {}, trim = true): RawLoad {
  const parts: RawLoad['parts'] = {};
  for (const [key, byViewer] of Object.entries(copies)) {
    const recv = byViewer.slice(first, first + n).filter((t) => Number.isFinite(t));
    if (!recv.length) continue;
    const early = Math.min(...recv);
    parts[key] = trim && early < FROM ? { recv: [early], ttfb: [] } : { recv, ttfb: recv.map((t) => t - 1) };
  }
  return {
    viewers: n,
    first,
    client: 'hlsjs',
    window: { from: FROM, to: TO },
    parts,
    partEnd: Object.fromEntries(Object.keys(copies).map((k, i) => [k, 9_000 + i * 1000])),
    inWindow: { seconds: 10, requests: 100 * n, partsFetched: 50 * n, catchUp: 50 * n, playlists: 50 * n },
    errors: { connectionErrors: 0, playlistNon200: 0, status: { 200: 200 * n }, connects: 2 * n },
    loadgen: { cpuPct: n, eventLoopDelayMs: { p50: n, p99: 2 * n, max: 3 * n } },
    ...over,
  };
}

const probe = (ready: Record<string, number>): ProbeData => ({
  ready: new Map(Object.entries(ready)),
  bursts: [],
  lag: { p99: [], max: [] },
  hist: { R: new Map(), C: new Map(), Q: new Map(), S: new Map(), P: new Map() },
});

test('summarizeLoad, one process: delays from the fastest viewer and the ready time, only parts first received in the window', () => {
  const copies: Copies = {
    '1.0': [9_990, 10_050], // first copy before the window: does not count
    '2.0': [10_030, 10_010], // counts; fastest 10 010
    '3.0': [20_010, 20_020], // first copy after the window: does not count
  };
  const raw = rawOf(copies, 0, 2);
  assert.deepEqual(raw.parts['1.0'], { recv: [9_990], ttfb: [] });
  const r = summarizeLoad([raw], probe({ '2.0': 10_000 }));
  assert.equal(r.viewers, 2);
  assert.deepEqual([r.delays.spread.n, r.delays.spread.min, r.delays.spread.max], [2, 0, 20]);
  assert.deepEqual([r.delays.fromReady.min, r.delays.fromReady.max], [10, 30]);
  assert.deepEqual([r.delays.fromReadyTtfb.min, r.delays.fromReadyTtfb.max], [9, 29]);
  // partEnd of '2.0' is 10 000 (second key); ready − end = 0.
  assert.deepEqual([r.delays.abs.min, r.delays.late.max], [10, 0]);
  assert.equal(r.delays.viewersPerPart.max, 2);
  assert.equal(r.rates.requestsPerSec, 20);
  assert.equal(r.rates.partsPerViewerPerSec, 5);
  assert.equal(r.loadgen.cpuPct, 2);
  assert.equal(r.loadgen.processes, undefined);
});

test('summarizeLoad, K processes: the same delays as one process measuring every viewer', () => {
  // 7 viewers, 60 parts over 12 s from 8.5 s; viewer 6 (in the second process) is always the fastest.
  let seed = 1;
  const rnd = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  const copies: Copies = {};
  for (let p = 0; p < 60; p++) {
    const base = 8_500 + p * 200;
    copies[`${100 + Math.floor(p / 5)}.${p % 5}`] = Array.from({ length: 7 }, (_, v) => (v === 6 ? base - 5 : base + rnd() * 120));
  }
  copies['99.0'] = [10_010, 10_020, 10_030, 10_040, 10_050, 10_060, 9_990];
  const ready = Object.fromEntries(Object.keys(copies).map((k, i) => [k, 8_490 + i * 200]));
  const one = summarizeLoad([rawOf(copies, 0, 7)], probe(ready));
  assert.deepEqual(summarizeLoad([rawOf(copies, 0, 7, {}, false)], probe(ready)), one); // keeping early parts whole changes nothing
  const merged = summarizeLoad([rawOf(copies, 4, 3), rawOf(copies, 0, 4)], probe(ready));
  assert.deepEqual(merged.delays, one.delays);
  assert.deepEqual(merged.rates, one.rates);
  assert.deepEqual(merged.errors, { ...one.errors });
  assert.equal(merged.viewers, 7);
  // A part whose only pre-window copy is viewer 6's (99.0) is not counted by the merge either.
  const alone = summarizeLoad([rawOf(copies, 0, 4)], probe(ready));
  assert.equal(alone.delays.viewersPerPart.n, merged.delays.viewersPerPart.n + 1);
  // Load generator: CPU added up, loop delay the largest.
  assert.equal(merged.loadgen.cpuPct, 7);
  assert.deepEqual(merged.loadgen.eventLoopDelayMs, { p50: 4, p99: 8, max: 12 });
  assert.equal(merged.loadgen.processes?.length, 2);
});

test('summarizeLoad: rates added up over each process\'s own window length; status counts merged', () => {
  const a = rawOf({}, 0, 2, { inWindow: { seconds: 10, requests: 100, partsFetched: 100, catchUp: 100, playlists: 100 } });
  const b = rawOf({}, 2, 2, { inWindow: { seconds: 5, requests: 100, partsFetched: 50, catchUp: 0, playlists: 50 }, errors: { connectionErrors: 1, playlistNon200: 2, status: { 200: 7, 404: 1 }, connects: 3 } });
  const r = summarizeLoad([a, b]);
  assert.equal(r.rates.requestsPerSec, 30);
  assert.equal(r.rates.partsPerViewerPerSec, 5);
  assert.equal(r.rates.catchUpShare, 100 / 150);
  assert.deepEqual(r.errors, { connectionErrors: 1, playlistNon200: 2, status: { 200: 407, 404: 1 }, connects: 7 });
});

test('summarizeLoad refuses overlapping viewers and different windows', () => {
  assert.throws(() => summarizeLoad([rawOf({}, 0, 3), rawOf({}, 2, 3)]), /overlap/);
  assert.throws(() => summarizeLoad([rawOf({}, 0, 3), rawOf({}, 3, 3, { window: { from: FROM, to: TO + 1 } })]), /windows/);
  assert.throws(() => summarizeLoad([]), /no load generator/);
});

test('readProbe: parts, bursts, server loop delay and histograms within the window', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'load-result-'));
  try {
    const file = path.join(dir, 'probe.txt');
    writeFileSync(file, ['5 0 9000.5 - - 3.0', '5 1 10200.25 8990 8980 4.5', 'L 10500 1.0 7.5 9.0', 'L 9000 1 99 99', 'R 11000 4:2 8:1', 'R 9000 100:5', ''].join('\n'));
    const d = readProbe(file, FROM, TO);
    assert.deepEqual([...d.ready], [['5.0', 9000.5], ['5.1', 10200.25]]);
    assert.deepEqual(d.bursts, [4.5]);
    assert.deepEqual(d.lag, { p99: [7.5], max: [9] });
    assert.deepEqual([...d.hist.R], [[4, 2], [8, 1]]);
    assert.equal(readProbe(path.join(dir, 'none'), FROM, TO).ready.size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
