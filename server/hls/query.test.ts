import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHlsQuery } from './query';

test('no query, or no directives: nothing to wait for', () => {
  for (const q of ['', '?', '?a=1', '?&&', '?_HLS_=1', '?_HLS_other=1', '?x=_HLS_msn=1']) {
    assert.deepEqual(parseHlsQuery(q), { msn: null, part: null, skip: false }, q);
  }
});

test('msn, part and skip as players send them', () => {
  assert.deepEqual(parseHlsQuery('?_HLS_msn=12'), { msn: 12, part: null, skip: false });
  assert.deepEqual(parseHlsQuery('?_HLS_msn=12&_HLS_part=3'), { msn: 12, part: 3, skip: false });
  assert.deepEqual(parseHlsQuery('?_HLS_part=0&_HLS_msn=0'), { msn: 0, part: 0, skip: false });
  assert.deepEqual(parseHlsQuery('?_HLS_msn=7&_HLS_part=1&_HLS_skip=YES'), { msn: 7, part: 1, skip: true });
  assert.deepEqual(parseHlsQuery('?_HLS_skip=v2'), { msn: null, part: null, skip: true });
  assert.deepEqual(parseHlsQuery('?token=abc&_HLS_msn=5&x'), { msn: 5, part: null, skip: false });
  // Leading zeros and the largest accepted number (12 digits).
  assert.deepEqual(parseHlsQuery('?_HLS_msn=007'), { msn: 7, part: null, skip: false });
  assert.deepEqual(parseHlsQuery('?_HLS_msn=999999999999'), { msn: 999_999_999_999, part: null, skip: false });
});

test('_HLS_skip: only YES and v2 ask for a delta update; the first one counts', () => {
  for (const v of ['NO', 'yes', '', '1']) assert.equal(parseHlsQuery(`?_HLS_skip=${v}`)?.skip, false, v);
  assert.equal(parseHlsQuery('?_HLS_skip')?.skip, false);
  assert.equal(parseHlsQuery('?_HLS_skip=YES&_HLS_skip=NO')?.skip, true);
  assert.equal(parseHlsQuery('?_HLS_skip=NO&_HLS_skip=YES')?.skip, false);
});

test('bad, duplicate and huge numbers, and a part without msn, are bad requests (null → 400)', () => {
  const bad = [
    '?_HLS_msn=abc',
    '?_HLS_msn=',
    '?_HLS_msn',
    '?_HLS_msn=-1',
    '?_HLS_msn=1.5',
    '?_HLS_msn=1e3',
    '?_HLS_msn=0x10',
    '?_HLS_msn= 1',
    '?_HLS_msn=1=2',
    '?_HLS_msn=١٢', // Arabic-Indic digits are not ASCII digits
    '?_HLS_msn=1000000000000', // 13 digits
    `?_HLS_msn=${'9'.repeat(400)}`,
    '?_HLS_msn=1&_HLS_part=x',
    '?_HLS_msn=1&_HLS_part=',
    '?_HLS_msn=1&_HLS_part=1000000000000',
    '?_HLS_part=1',
    '?_HLS_part=1&_HLS_skip=YES',
    '?_HLS_msn=1&_HLS_msn=1',
    '?_HLS_msn=1&_HLS_msn=2',
    '?_HLS_msn=1&_HLS_part=1&_HLS_part=2',
    '?_HLS_msn=1&_HLS_msn=abc',
  ];
  for (const q of bad) assert.equal(parseHlsQuery(q), null, q);
});

test('percent-encoded and + forms decode like URLSearchParams', () => {
  assert.deepEqual(parseHlsQuery('?_HLS_msn=%31%32&_HLS_part=%33'), { msn: 12, part: 3, skip: false });
  assert.deepEqual(parseHlsQuery('?%5FHLS%5Fmsn=4'), { msn: 4, part: null, skip: false });
  assert.deepEqual(parseHlsQuery('?_HLS_skip=%59ES'), { msn: null, part: null, skip: true });
  assert.equal(parseHlsQuery('?_HLS_msn=+1'), null); // "+" is a space
  assert.equal(parseHlsQuery('?_HLS_msn=%2D1'), null);
  assert.equal(parseHlsQuery('?_HLS_msn=1&%5FHLS_msn=1'), null); // the same name twice, once encoded
  assert.equal(parseHlsQuery('?_HLS_msn=%zz'), null); // malformed escapes stay as they are: not digits
  assert.deepEqual(parseHlsQuery('?x=%zz&_HLS_msn=2'), { msn: 2, part: null, skip: false });
});

test('the fast path agrees with URLSearchParams on valid queries', () => {
  for (let i = 0; i < 200; i++) {
    const msn = Math.floor(Math.random() * 1e6);
    const part = Math.floor(Math.random() * 10);
    const q = `?_HLS_msn=${msn}${i % 2 ? `&_HLS_part=${part}` : ''}${i % 3 ? '&_HLS_skip=YES' : ''}${i % 5 ? '&v=1' : ''}`;
    const p = new URLSearchParams(q);
    assert.deepEqual(parseHlsQuery(q), {
      msn: Number(p.get('_HLS_msn')),
      part: p.has('_HLS_part') ? Number(p.get('_HLS_part')) : null,
      skip: p.get('_HLS_skip') === 'YES',
    });
  }
});
