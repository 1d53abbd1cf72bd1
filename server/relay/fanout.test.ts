import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { FanoutGroup } from './fanout';

/** A writer that records each write (the Buffer objects themselves). */
function recorder() {
  const writes: Buffer[] = [];
  return { writes, write: (b: Buffer) => void writes.push(b), bytes: () => Buffer.concat(writes) };
}
const msg = (tag: number, len = 10) => Buffer.alloc(len, tag);

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'] }));
afterEach(() => mock.timers.reset());

test('players in sync get one shared Buffer per flush, byte-identical to the messages in order', () => {
  let emptied = 0;
  const g = new FanoutGroup(15, () => emptied++);
  const ws = [recorder(), recorder(), recorder()];
  const qs = ws.map((w) => g.join(w, true));
  const a1 = msg(1, 5);
  const a2 = msg(2, 7);
  const v = msg(3, 100);
  // The hub hands each message to every player before the next message.
  for (const m of [a1, a2]) for (const q of qs) q.push(m);
  assert.equal(g.pending, true);
  mock.timers.tick(14);
  assert.deepEqual(ws.map((w) => w.writes.length), [0, 0, 0], 'audio waits');
  assert.equal(qs[0].bytes, 12, 'queued bytes count as buffered');
  for (const q of qs) q.push(v, 0); // a video frame: flushed at the end of this turn
  mock.timers.tick(0);
  for (const w of ws) {
    assert.equal(w.writes.length, 1, 'one write per player');
    assert.deepEqual(w.bytes(), Buffer.concat([a1, a2, v]));
  }
  assert.equal(ws[0].writes[0], ws[1].writes[0], 'the same Buffer object for every player in sync');
  assert.equal(ws[1].writes[0], ws[2].writes[0]);
  assert.equal(qs[0].bytes, 0);
  assert.equal(g.pending, false);
  // The 15 ms timer of the audio was cancelled with the flush: nothing more happens.
  mock.timers.tick(100);
  assert.deepEqual(ws.map((w) => w.writes.length), [1, 1, 1]);
  for (const q of qs) q.leave();
  assert.equal(emptied, 1);
});

test('audio alone is written flushMs after the first queued message, not later', () => {
  const g = new FanoutGroup(15);
  const w = recorder();
  const q = g.join(w, true);
  q.push(msg(1));
  mock.timers.tick(10);
  q.push(msg(2)); // does not push the deadline back
  mock.timers.tick(4);
  assert.equal(w.writes.length, 0);
  mock.timers.tick(1);
  assert.equal(w.writes.length, 1);
  assert.deepEqual(w.bytes(), Buffer.concat([msg(1), msg(2)]));
  q.push(msg(3));
  mock.timers.tick(15);
  assert.equal(w.writes.length, 2, 'a new batch, a new deadline');
  q.leave();
});

test('a player that skipped messages (or joined late) gets its own bytes, the others still share', () => {
  const g = new FanoutGroup(15);
  const full = recorder();
  const full2 = recorder();
  const skipping = recorder();
  const [qf, qf2, qs] = [g.join(full, true), g.join(full2, true), g.join(skipping, true)];
  const m1 = msg(1);
  const m2 = msg(2);
  const m3 = msg(3);
  qf.push(m1);
  qf2.push(m1); // `skipping` does not get m1 (the hub is skipping it to a keyframe)
  qf.push(m2);
  qf2.push(m2);
  qs.push(m2);
  qf.push(m3, 0);
  qf2.push(m3, 0);
  qs.push(m3, 0);
  mock.timers.tick(0);
  assert.deepEqual(full.bytes(), Buffer.concat([m1, m2, m3]));
  assert.deepEqual(skipping.bytes(), Buffer.concat([m2, m3]));
  assert.equal(full.writes[0], full2.writes[0], 'in-sync players share');
  assert.notEqual(full.writes[0], skipping.writes[0]);
  assert.equal(skipping.writes.length, 1);
});

test('players with their own encodings (not message stream 1) are never given the shared Buffer', () => {
  const g = new FanoutGroup(15);
  const shared = recorder();
  const own = recorder();
  const qa = g.join(shared, true);
  const qb = g.join(own, false);
  qa.push(msg(1));
  qb.push(msg(9)); // same length, different bytes
  qa.push(msg(2), 0);
  qb.push(msg(8), 0);
  mock.timers.tick(0);
  assert.deepEqual(shared.bytes(), Buffer.concat([msg(1), msg(2)]));
  assert.deepEqual(own.bytes(), Buffer.concat([msg(9), msg(8)]));
});

test('flush() writes a player at once (before a control message); the rest of the batch follows in order', () => {
  const g = new FanoutGroup(15);
  const a = recorder();
  const b = recorder();
  const qa = g.join(a, true);
  const qb = g.join(b, true);
  const m1 = msg(1);
  const m2 = msg(2);
  qa.push(m1);
  qb.push(m1);
  qa.flush();
  a.write(msg(7, 3)); // e.g. onMetaData, sent by the session
  qa.push(m2);
  qb.push(m2);
  mock.timers.tick(15);
  assert.deepEqual(a.bytes(), Buffer.concat([m1, msg(7, 3), m2]));
  assert.deepEqual(b.bytes(), Buffer.concat([m1, m2]));
});

test('flushMs 0: every message is written at once, nothing is scheduled', () => {
  const g = new FanoutGroup(0);
  const w = recorder();
  const q = g.join(w, true);
  q.push(msg(1));
  q.push(msg(2), 0);
  assert.equal(w.writes.length, 2);
  assert.equal(q.bytes, 0);
  assert.equal(g.pending, false);
});

test('leaving drops what is queued; the last player to leave cancels the flush (no timer left behind)', () => {
  let emptied = 0;
  const g = new FanoutGroup(15, () => emptied++);
  const a = recorder();
  const b = recorder();
  const qa = g.join(a, true);
  const qb = g.join(b, true);
  qa.push(msg(1));
  qb.push(msg(1));
  qa.leave();
  qa.leave(); // idempotent
  assert.equal(g.size, 1);
  assert.equal(g.pending, true, 'b still has a batch due');
  qa.push(msg(2)); // after leaving: ignored
  mock.timers.tick(15);
  assert.equal(a.writes.length, 0);
  assert.equal(b.writes.length, 1);
  qb.push(msg(3), 0);
  qb.push(msg(4));
  assert.equal(g.pending, true);
  qb.leave();
  assert.equal(g.pending, false, 'the flush is cancelled with the last player');
  assert.equal(emptied, 1);
  assert.equal(g.size, 0);
  mock.timers.tick(100);
  assert.equal(b.writes.length, 1, 'nothing written after leaving');
});

test('the flush is due when the most urgent queued message is', () => {
  const g = new FanoutGroup(15);
  const w = recorder();
  const q = g.join(w, true);
  q.push(msg(1)); // audio: due at 15
  mock.timers.tick(2);
  q.push(msg(2), 5); // video allowed 5 ms: due at 7, earlier
  mock.timers.tick(4);
  assert.equal(w.writes.length, 0);
  mock.timers.tick(1);
  assert.equal(w.writes.length, 1, 'flushed at 7 ms');
  q.push(msg(3)); // due at 22
  mock.timers.tick(12);
  q.push(msg(4), 5); // due at 24: later than 22, the earlier deadline stands
  mock.timers.tick(2);
  assert.equal(w.writes.length, 1);
  mock.timers.tick(1);
  assert.equal(w.writes.length, 2, 'flushed at 22 ms');
  assert.deepEqual(w.bytes(), Buffer.concat([msg(1), msg(2), msg(3), msg(4)]));
  mock.timers.tick(50);
  assert.equal(w.writes.length, 2, 'no flush without messages');
  q.leave();
});
