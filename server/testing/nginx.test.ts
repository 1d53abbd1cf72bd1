import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setDirectives } from './nginx';

const shipped = readFileSync(path.resolve('docs/deploy/nginx-cache.conf'), 'utf8');

test('setDirectives sets a directive of the shipped cache config anew, and nothing else', () => {
  const out = setDirectives(shipped, { proxy_cache_lock_timeout: '190ms' });
  assert.match(out, /^\s*proxy_cache_lock_timeout 190ms;$/m);
  assert.doesNotMatch(out, /proxy_cache_lock_timeout 15s;/);
  const changed = out.split('\n').filter((line, i) => line !== shipped.split('\n')[i]);
  assert.equal(changed.length, 1);
});

test('setDirectives refuses a directive the config does not set, and values that would add directives', () => {
  assert.throws(() => setDirectives(shipped, { proxy_cache_lock_timout: '1s' }), /does not set/);
  assert.throws(() => setDirectives(shipped, { proxy_cache_lock_timeout: '1s; evil on' }), /not a directive/);
  assert.throws(() => setDirectives(shipped, { 'x y': '1' }), /not a directive/);
});
