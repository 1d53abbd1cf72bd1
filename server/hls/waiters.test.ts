import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { COALESCE_MS, WaitList } from './waiters';

interface W {
  name: string;
  deadline: number;
  ready: boolean;
  added: number;
}

function list() {
  const answered: Array<{ name: string; ready: boolean; at: number; late: number }> = [];
  const l = new WaitList<W>(
    {
      isReady: (w) => w.ready,
      answer: (w, ready) => {
        const at = performance.now();
        answered.push({ name: w.name, ready, at, late: at - w.deadline });
      },
    },
    2,
  );
  const add = (name: string, ms: number, priority = 0): W => {
    const now = performance.now();
    const w = { name, deadline: now + ms, ready: false, added: now };
    l.add(w, priority);
    return w;
  };
  return { l, answered, add };
}

test('wake answers ready waiters, priority 0 first, each in arrival order, and keeps the rest', () => {
  const { l, answered, add } = list();
  const a = add('playlist-a', 5000, 1);
  const b = add('part-b', 5000, 0);
  const c = add('playlist-c', 5000, 1);
  const d = add('part-d', 5000, 0);
  const e = add('part-e', 5000, 0);
  for (const w of [a, b, c, d]) w.ready = true;
  l.wake();
  assert.deepEqual(answered.map((x) => x.name), ['part-b', 'part-d', 'playlist-a', 'playlist-c']);
  assert.ok(answered.every((x) => x.ready));
  assert.equal(l.size, 1);
  assert.equal(l.armed, true, 'the one left still has its timeout');
  e.ready = true;
  l.wake();
  assert.equal(l.size, 0);
  assert.equal(l.armed, false, 'an empty list has no timer');
});

test('one timer answers each waiter when its time is up, not before, and not much later', async () => {
  const { l, answered, add } = list();
  add('w300', 300);
  add('w100', 100, 1); // earlier than the first: the timer is moved up
  await sleep(50);
  add('w200', 150); // due at ~200 ms
  add('w200b', 152); // within COALESCE_MS of w200: may go in the same sweep
  assert.equal(l.size, 4);
  await sleep(400);
  assert.deepEqual(answered.map((x) => x.name), ['w100', 'w200', 'w200b', 'w300']);
  for (const x of answered) {
    assert.equal(x.ready, false);
    assert.ok(x.late >= -COALESCE_MS - 1, `${x.name} answered ${(-x.late).toFixed(1)} ms early`);
    assert.ok(x.late < 80, `${x.name} answered ${x.late.toFixed(1)} ms late`);
  }
  assert.equal(l.size, 0);
  assert.equal(l.armed, false);
});

test('waiters answered before their deadline leave no timer behind; drain answers all as not ready', async () => {
  const { l, answered, add } = list();
  const ws = Array.from({ length: 1000 }, (_, i) => add(`w${i}`, 50 + i, i % 2));
  for (const w of ws) w.ready = true;
  l.wake();
  assert.equal(answered.length, 1000);
  assert.equal(l.armed, false);
  await sleep(120);
  assert.equal(answered.length, 1000, 'nobody is answered twice');

  add('x', 10_000);
  add('y', 10_000, 1);
  assert.equal(l.armed, true);
  l.drain();
  assert.deepEqual(answered.slice(1000).map((x) => [x.name, x.ready]), [['x', false], ['y', false]]);
  assert.equal(l.size, 0);
  assert.equal(l.armed, false);
});

test('a sweep keeps waiters that are not due and re-arms for them', async () => {
  const { l, answered, add } = list();
  add('soon', 30);
  add('later', 250);
  await sleep(100);
  assert.deepEqual(answered.map((x) => x.name), ['soon']);
  assert.equal(l.size, 1);
  assert.equal(l.armed, true);
  await sleep(250);
  assert.deepEqual(answered.map((x) => x.name), ['soon', 'later']);
  assert.equal(l.armed, false);
});
