import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ViewerSet } from './viewers';

describe('ViewerSet', () => {
  test('counts distinct keys seen within the window; one seen again stays', () => {
    const v = new ViewerSet(1000, 10, 100);
    v.note('a', 'a|1', 0);
    v.note('a', 'a|2', 500);
    v.note('b', 'b|1', 600);
    assert.equal(v.count(900), 3);
    v.note('a', 'a|1', 1200); // seen again: moves behind the others
    assert.equal(v.count(1550), 2, 'a|2 expired at 1500');
    assert.equal(v.count(1700), 1, 'b|1 expired at 1600, a|1 stays');
    assert.equal(v.count(2201), 0);
    assert.equal(v.size, 0);
  });

  test('at most perAddress keys per address; an expired one frees its place', () => {
    const v = new ViewerSet(1000, 3, 100);
    for (let i = 0; i < 50; i++) v.note('x', `x|${i}`, 0);
    v.note('y', 'y|1', 0);
    assert.equal(v.count(0), 4);
    v.note('x', 'x|new', 1500);
    assert.equal(v.count(1500), 1, 'the old ones expired; the new one is counted');
  });

  test('at most max keys: the oldest goes', () => {
    const v = new ViewerSet(10_000, 10, 5);
    for (let i = 0; i < 20; i++) v.note(`a${i}`, `a${i}|`, i);
    assert.equal(v.count(20), 5);
    assert.equal(v.size, 5);
    // The per-address counts of the dropped ones went too: a0 can be counted again.
    v.note('a0', 'a0|', 21);
    assert.equal(v.count(21), 5);
  });
});
