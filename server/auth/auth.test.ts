import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { openDb } from '../store/db';
import { addressKey, FailureLimiter, RateLimiter } from './limiter';
import { OperatorCredential, TOKEN_FILE } from './operator';
import { clearedSessionCookie, readCookie, SESSION_COOKIE, sessionCookie, SessionStore } from './sessions';

describe('operator credential', () => {
  test('checks whole tokens only, whatever the length of what is given', () => {
    const c = new OperatorCredential('the-right-token-123456', 'env');
    assert.equal(c.check('the-right-token-123456'), true);
    // Both sides are hashed to 32 bytes before the constant-time compare, so no length leaks and nothing throws.
    for (const wrong of ['', 'the-right-token-12345', 'the-right-token-1234567', 'x'.repeat(100_000), 'THE-RIGHT-TOKEN-123456', '\u0000']) {
      assert.equal(c.check(wrong), false, JSON.stringify(wrong.slice(0, 30)));
    }
  });

  test('is made once in DATA_DIR, owner-only, and kept across restarts', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cred-'));
    const first = OperatorCredential.load(dir, undefined);
    assert.equal(first.source, 'created');
    const file = path.join(dir, TOKEN_FILE);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const token = (await readFile(file, 'utf8')).trim();
    assert.ok(token.length >= 40);
    assert.equal(first.check(token), true);
    const again = OperatorCredential.load(dir, undefined);
    assert.equal(again.source, 'file');
    assert.equal(again.check(token), true);
    assert.equal(again.fingerprint, first.fingerprint);
    assert.ok(!again.fingerprint.includes(token.slice(0, 8)));
    // Loosened permissions are tightened again; a too-short token is refused, not used.
    await chmod(file, 0o644);
    OperatorCredential.load(dir, undefined);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await writeFile(file, 'short\n');
    assert.throws(() => OperatorCredential.load(dir, undefined), /at least 16/);
  });

  test('ADMIN_TOKEN wins over the file; the sign-in link carries the token in the fragment only', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cred-'));
    const c = OperatorCredential.load(dir, 'from-the-environment-1');
    assert.equal(c.source, 'env');
    await assert.rejects(stat(path.join(dir, TOKEN_FILE)), /ENOENT/);
    const link = new URL(c.signInLink('http://localhost:3000'));
    assert.equal(link.pathname, '/signin');
    assert.equal(link.search, '');
    assert.equal(link.hash, '#token=from-the-environment-1');
  });
});

describe('session cookies', () => {
  test('are HttpOnly, SameSite=Strict, Path=/, Secure on https only', () => {
    const c = sessionCookie('abc', { secure: false, maxAgeSeconds: 60 });
    assert.match(c, /^golive_session=abc; /);
    for (const flag of ['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=60']) assert.ok(c.split('; ').includes(flag), flag);
    assert.ok(!c.includes('Secure'));
    assert.ok(sessionCookie('abc', { secure: true, maxAgeSeconds: 60 }).split('; ').includes('Secure'));
    assert.ok(clearedSessionCookie(false).includes('Max-Age=0'));
  });

  test('are read from any Cookie header a client sends', () => {
    assert.equal(readCookie('a=1; golive_session=xyz; b=2', SESSION_COOKIE), 'xyz');
    assert.equal(readCookie('golive_session="q"', SESSION_COOKIE), 'q');
    assert.equal(readCookie(['a=1', 'golive_session=z'], SESSION_COOKIE), 'z');
    for (const junk of [undefined, '', ';;;', '=', 'golive_sessionx=1', 'x'.repeat(10_000)]) assert.equal(readCookie(junk, SESSION_COOKIE), undefined);
  });

  test('sessions end on sign-out, on expiry and when the token changes; they are bounded', () => {
    const db = openDb(null);
    let now = 1000;
    const store = new SessionStore(db, 'fp1', () => now, 10_000);
    const id = store.create();
    assert.equal(store.valid(id), true);
    assert.equal(store.valid(`${id}x`), false);
    assert.equal(store.valid('x'.repeat(1000)), false);
    store.destroy(id);
    assert.equal(store.valid(id), false);
    const later = store.create();
    now += 10_001;
    assert.equal(store.valid(later), false, 'expired');
    now = 1000;
    const kept = store.create();
    assert.equal(new SessionStore(db, 'fp2', () => now).valid(kept), false, 'another token: void');
    const many = new SessionStore(db, 'fp3', () => now++);
    const first = many.create();
    for (let i = 0; i < 1000; i++) many.create();
    assert.equal(many.valid(first), false, 'the oldest went');
    assert.ok((db.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number }).n <= 1000);
  });
});

describe('rate limiting', () => {
  test('failures beyond the free ones double the wait, success forgets', () => {
    let now = 0;
    const f = new FailureLimiter({ free: 3, maxDelayMs: 8000, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(f.check('a').ok, true);
      f.fail('a');
    }
    assert.equal(f.check('a').ok, true, 'three free failures');
    f.fail('a');
    assert.deepEqual(f.check('a'), { ok: false, retryAfterSeconds: 1 });
    assert.equal(f.check('b').ok, true, 'another address is not slowed');
    now += 1000;
    f.fail('a');
    assert.deepEqual(f.check('a'), { ok: false, retryAfterSeconds: 2 });
    now += 2000;
    for (let i = 0; i < 10; i++) f.fail('a');
    assert.deepEqual(f.check('a'), { ok: false, retryAfterSeconds: 8 }, 'capped');
    f.succeed('a');
    assert.equal(f.check('a').ok, true);
  });

  test('a flood of addresses costs a bounded map', () => {
    const f = new FailureLimiter({ maxEntries: 100 });
    const r = new RateLimiter(2, 60, { maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) {
      f.fail(`10.0.${i >> 8}.${i & 255}`);
      r.take(`10.0.${i >> 8}.${i & 255}`);
    }
    assert.equal(f.size, 100);
    assert.equal(r.size, 100);
  });

  test('the create bucket allows a burst, then the rate', () => {
    let now = 0;
    const r = new RateLimiter(2, 6, { now: () => now });
    assert.equal(r.take('a').ok, true);
    assert.equal(r.take('a').ok, true);
    assert.deepEqual(r.take('a'), { ok: false, retryAfterSeconds: 10 });
    now += 10_000;
    assert.equal(r.take('a').ok, true);
    assert.equal(r.take('a').ok, false);
  });

  test('addresses: IPv4-mapped as IPv4, IPv6 by /64', () => {
    assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('127.0.0.1'), '127.0.0.1');
    assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), addressKey('2001:db8:1:2::9'));
    assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
    assert.equal(addressKey(undefined), '?');
  });
});
