import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { StreamRegistry } from './registry';

test('keys verify, survive a restart, and only a hash is stored', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'reg-'));
  const reg = await StreamRegistry.open(dir);
  const { record, key } = await reg.create('  My show  ');
  assert.equal(record.title, 'My show');
  assert.match(key, new RegExp(`^${record.id}_[A-Za-z0-9_-]{32}$`));
  assert.equal(reg.verifyKey(key)?.id, record.id);
  const stored = await readFile(path.join(dir, 'streams.json'), 'utf8');
  assert.ok(!stored.includes(key.slice(record.id.length + 1)), 'the secret is not on disk');

  const again = await StreamRegistry.open(dir);
  assert.equal(again.verifyKey(key)?.id, record.id);
  assert.equal(again.get(record.id)?.title, 'My show');
});

test('wrong, truncated, foreign and keyless keys are refused', async () => {
  const reg = await StreamRegistry.open(null);
  const a = await reg.create();
  const b = await reg.create();
  assert.equal(reg.verifyKey(a.key.slice(0, -1)), null);
  assert.equal(reg.verifyKey(`${a.record.id}_${b.key.split('_').slice(1).join('_')}`), null);
  assert.equal(reg.verifyKey(a.record.id), null);
  assert.equal(reg.verifyKey(''), null);
  reg.ensureOpen('open1');
  assert.equal(reg.verifyKey('open1_'), null);
});

test('the registry is bounded', async () => {
  const reg = await StreamRegistry.open(null, 2);
  await reg.create();
  await reg.create();
  await assert.rejects(reg.create(), /holds 2 streams/);
});

test('session keys publish like the stream key until revoked, and only for their stream', async () => {
  const reg = await StreamRegistry.open(null);
  const a = await reg.create();
  const b = await reg.create();
  const s1 = reg.issueSessionKey(a.record.id);
  const s2 = reg.issueSessionKey(a.record.id);
  assert.notEqual(s1.key, a.key);
  assert.equal(reg.verifyKey(s1.key)?.id, a.record.id);
  assert.equal(reg.verifyKey(s2.key)?.id, a.record.id);
  assert.equal(reg.verifyKey(`${b.record.id}_${s1.key.split('_').slice(1).join('_')}`), null, 'not for another stream');
  s1.revoke();
  assert.equal(reg.verifyKey(s1.key), null);
  assert.equal(reg.verifyKey(s2.key)?.id, a.record.id, 'others stay valid');
  s2.revoke();
  s2.revoke();
  assert.equal(reg.verifyKey(s2.key), null);
  assert.equal(reg.verifyKey(a.key)?.id, a.record.id, 'the stream key is untouched');
});
