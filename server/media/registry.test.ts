import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DB_FILE, StoreError } from '../store/db';
import { StreamRegistry } from './registry';

test('keys verify, survive a restart, and only a hash is stored', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'reg-'));
  const reg = await StreamRegistry.open(dir);
  const { record, key } = await reg.create('  My show  ');
  assert.equal(record.title, 'My show');
  assert.match(key, new RegExp(`^${record.id}_[A-Za-z0-9_-]{32}$`));
  assert.equal(reg.verifyKey(key)?.id, record.id);
  reg.db.pragma('wal_checkpoint(TRUNCATE)');
  const stored = await readFile(path.join(dir, DB_FILE));
  assert.ok(stored.includes(Buffer.from(record.id)), 'the stream is in the database file');
  assert.ok(!stored.includes(Buffer.from(key.slice(record.id.length + 1))), 'the secret is not on disk');
  reg.db.close();

  const again = await StreamRegistry.open(dir);
  assert.equal(again.verifyKey(key)?.id, record.id);
  assert.equal(again.get(record.id)?.title, 'My show');
  again.db.close();
});

test('rename, unlist, rotate and delete are kept across a restart', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'reg-'));
  const reg = await StreamRegistry.open(dir);
  const a = await reg.create('a');
  const b = await reg.create('b', false);
  assert.equal(b.record.listed, false);
  assert.equal(reg.update(a.record.id, { title: ' renamed ', listed: false })?.title, 'renamed');
  assert.equal(reg.update('nope', { title: 'x' }), null);
  const newKey = reg.rotateKey(a.record.id);
  assert.ok(newKey && newKey !== a.key);
  assert.equal(reg.verifyKey(a.key), null, 'the old key stops working at once');
  assert.equal(reg.verifyKey(newKey)?.id, a.record.id);
  assert.equal(reg.delete(b.record.id), true);
  assert.equal(reg.delete(b.record.id), false);
  assert.equal(reg.verifyKey(b.key), null);
  reg.markLive(a.record.id, 1234);
  reg.db.close();

  const again = await StreamRegistry.open(dir);
  const r = again.get(a.record.id);
  assert.deepEqual([r?.title, r?.listed, r?.lastLiveAt], ['renamed', false, 1234]);
  assert.equal(again.verifyKey(a.key), null);
  assert.equal(again.verifyKey(newKey)?.id, a.record.id);
  assert.equal(again.get(b.record.id), undefined);
  assert.equal(again.size, 1);
  again.db.close();
});

test('streams never published expire; published ones stay', async () => {
  let now = 1_000_000;
  const reg = new StreamRegistry((await StreamRegistry.open(null)).db, { now: () => now });
  const unused = reg.createSync('unused');
  const used = reg.createSync('used');
  reg.markLive(used.record.id);
  now += 10_000;
  const fresh = reg.createSync('fresh');
  assert.deepEqual(reg.expireUnused(now - 5_000), [unused.record.id]);
  assert.equal(reg.get(unused.record.id), undefined);
  assert.equal(reg.verifyKey(unused.key), null);
  assert.ok(reg.get(used.record.id) && reg.get(fresh.record.id));
});

test('an old streams.json is imported once, keys and titles intact', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'reg-'));
  // The format of the JSON registry before the database: sha256(secret) in hex.
  const { createHash } = await import('node:crypto');
  const keyHash = createHash('sha256').update('old-secret').digest('hex');
  await writeFile(
    path.join(dir, 'streams.json'),
    JSON.stringify({ streams: [{ id: 'oldstream1', title: 'Old show', createdAt: '2026-01-02T03:04:05.000Z', keyHash }, { id: '../bad', keyHash }, { id: 'nohash' }] }),
  );
  const reg = await StreamRegistry.open(dir);
  assert.equal(reg.size, 1);
  assert.equal(reg.verifyKey('oldstream1_old-secret')?.title, 'Old show');
  assert.equal(reg.get('oldstream1')?.createdAt, '2026-01-02T03:04:05.000Z');
  await assert.rejects(readFile(path.join(dir, 'streams.json')), /ENOENT/);
  assert.ok(await readFile(path.join(dir, 'streams.json.migrated')));
  reg.delete('oldstream1');
  reg.db.close();
  // A streams.json that reappears (a restored backup) is not imported again over what the database says.
  await writeFile(path.join(dir, 'streams.json'), JSON.stringify({ streams: [{ id: 'oldstream1', title: 'Old show', keyHash }] }));
  const again = await StreamRegistry.open(dir);
  assert.equal(again.size, 0);
  again.db.close();
});

test('a corrupt or unreadable database stops with one clear error, never starts empty', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'reg-'));
  const reg = await StreamRegistry.open(dir);
  await reg.create('precious');
  reg.db.pragma('wal_checkpoint(TRUNCATE)');
  reg.db.close();
  const file = path.join(dir, DB_FILE);
  const bytes = await readFile(file);
  // Garbage over the b-tree pages (the header stays), then a file that is no database at all.
  const torn = Buffer.from(bytes);
  for (let i = 100; i < torn.length; i += 7) torn[i] = 0xa5;
  await writeFile(file, torn);
  await assert.rejects(StreamRegistry.open(dir), (err: unknown) => err instanceof StoreError && /corrupt/.test((err as Error).message));
  await writeFile(file, 'this is not a database, it is a text file of some length '.repeat(100));
  await assert.rejects(StreamRegistry.open(dir), (err: unknown) => err instanceof StoreError && /golive\.db/.test((err as Error).message));
  assert.equal((await stat(file)).size > 1000, true, 'the bad file is left for the operator, not replaced');
  const jsonDir = await mkdtemp(path.join(os.tmpdir(), 'reg-'));
  await writeFile(path.join(jsonDir, 'streams.json'), '{"streams": [');
  await assert.rejects(StreamRegistry.open(jsonDir), (err: unknown) => err instanceof StoreError && /streams\.json/.test((err as Error).message));
  if (process.getuid?.() !== 0) {
    const locked = await mkdtemp(path.join(os.tmpdir(), 'reg-'));
    await chmod(locked, 0o500);
    await assert.rejects(StreamRegistry.open(path.join(locked, 'sub')), StoreError);
  }
});

test('a kill -9 during writes loses no committed stream', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'reg-'));
  // A child process that creates streams as fast as it can and prints each id once its transaction committed.
  const script = `
    import { StreamRegistry } from ${JSON.stringify(path.resolve('server/media/registry.ts'))};
    const reg = await StreamRegistry.open(${JSON.stringify(dir)}, 1_000_000);
    for (;;) { const { record } = reg.createSync('t'); process.stdout.write(record.id + '\\n'); }
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer printed ${out.split('\n').length - 1} ids in 60 s: ${err.slice(0, 500)}`));
    }, 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').length > 300) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('close', r));
  const committed = out.split('\n').slice(0, -1); // the last line may be cut
  assert.ok(committed.length >= 300);
  const reg = await StreamRegistry.open(dir, 1_000_000);
  const missing = committed.filter((id) => !reg.get(id));
  assert.deepEqual(missing, [], 'every stream whose commit returned is there');
  reg.db.close();
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
