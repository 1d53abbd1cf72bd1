import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_AFTER_SIGN_IN, retryAfterSeconds, safeNext, tokenFromHash } from './session';

const ORIGIN = 'http://127.0.0.1:3000';

test('safeNext keeps a path on this site, with its query and fragment', () => {
  assert.equal(safeNext('/streams', ORIGIN), '/streams');
  assert.equal(safeNext('/broadcast?codec=vp8', ORIGIN), '/broadcast?codec=vp8');
  assert.equal(safeNext('/watch/abc#x', ORIGIN), '/watch/abc#x');
  assert.equal(safeNext(null, ORIGIN), DEFAULT_AFTER_SIGN_IN);
  assert.equal(safeNext('', ORIGIN), DEFAULT_AFTER_SIGN_IN);
});

test('safeNext never leads to another site (hostile ?next=)', () => {
  for (const hostile of [
    'https://evil.example/',
    '//evil.example/x',
    '/\\evil.example',
    '\\\\evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    'javascript:alert(1)',
    ' /streams',
    'evil.example',
    'http:evil.example',
    '/signin',
    '/signin?next=/streams',
  ]) {
    const to = safeNext(hostile, ORIGIN);
    assert.equal(to, DEFAULT_AFTER_SIGN_IN, `${JSON.stringify(hostile)} -> ${to}`);
    assert.equal(new URL(to, ORIGIN).origin, ORIGIN);
  }
});

test('tokenFromHash reads #token= (URL-encoded) and nothing else', () => {
  assert.equal(tokenFromHash('#token=abc_DEF-123'), 'abc_DEF-123');
  assert.equal(tokenFromHash('#token=a%2Bb%3D'), 'a+b=');
  assert.equal(tokenFromHash('token=xyz'), 'xyz');
  assert.equal(tokenFromHash('#x=1&token=t0k'), 't0k');
  assert.equal(tokenFromHash(''), null);
  assert.equal(tokenFromHash('#'), null);
  assert.equal(tokenFromHash('#token='), null);
  assert.equal(tokenFromHash('#tokens=abc'), null);
});

test('retryAfterSeconds takes delta-seconds only', () => {
  assert.equal(retryAfterSeconds('5'), 5);
  assert.equal(retryAfterSeconds(' 30 '), 30);
  assert.equal(retryAfterSeconds(null), undefined);
  assert.equal(retryAfterSeconds('-1'), undefined);
  assert.equal(retryAfterSeconds('Wed, 21 Oct 2015 07:28:00 GMT'), undefined);
  assert.equal(retryAfterSeconds('1e9'), undefined);
});
