/** TRUST_PROXY parsing and the client address it yields from X-Forwarded-For (hostile values included). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_XFF_CHARS, normalizeAddress, TrustProxy } from './trust-proxy';

describe('TrustProxy', () => {
  it('parses addresses, CIDR blocks and names; refuses anything else', () => {
    const t = TrustProxy.parse(' 127.0.0.1, 10.0.0.0/8 ,fd00::/8,private ');
    assert.deepEqual(t.entries, ['127.0.0.1', '10.0.0.0/8', 'fd00::/8', 'private']);
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.0/', '1.2.3', '10.0.0.0/8x', 'loopbacks']) {
      assert.throws(() => TrustProxy.parse(bad), /not an address|bad prefix/, bad);
    }
    assert.equal(TrustProxy.parse('').none, true);
    assert.equal(TrustProxy.parse(undefined).none, true);
  });

  it('matches peers in every address form', () => {
    const t = TrustProxy.parse('loopback,10.0.0.0/8');
    for (const a of ['127.0.0.1', '::ffff:127.0.0.1', '127.9.9.9', '::1', '10.200.0.1', '::ffff:10.1.1.1']) assert.equal(t.trusts(a), true, a);
    for (const a of ['11.0.0.1', '::2', '', undefined, 'garbage', '::ffff:192.168.1.1']) assert.equal(t.trusts(a), false, String(a));
    assert.equal(TrustProxy.parse('').trusts('127.0.0.1'), false);
  });

  it('an untrusted peer is the client, whatever its X-Forwarded-For says', () => {
    const t = TrustProxy.parse('10.0.0.1');
    assert.equal(t.client('203.0.113.5', '198.51.100.1'), '203.0.113.5');
    assert.equal(TrustProxy.parse('').client('127.0.0.1', '198.51.100.1'), '127.0.0.1');
  });

  it('from a trusted peer: the right-most untrusted entry (forged entries to its left do not count)', () => {
    const t = TrustProxy.parse('loopback,10.0.0.0/8');
    assert.equal(t.client('127.0.0.1', '198.51.100.1'), '198.51.100.1');
    assert.equal(t.client('::ffff:127.0.0.1', '6.6.6.6, 198.51.100.1'), '198.51.100.1');
    assert.equal(t.client('127.0.0.1', '6.6.6.6, 198.51.100.1, 10.1.1.1'), '198.51.100.1'); // two proxies
    assert.equal(t.client('127.0.0.1', '198.51.100.1:4711'), '198.51.100.1');
    assert.equal(t.client('127.0.0.1', '[2001:db8::1]:443'), '2001:db8::1');
    assert.equal(t.client('127.0.0.1', '2001:db8::1'), '2001:db8::1');
    assert.equal(t.client('127.0.0.1', '::ffff:198.51.100.1'), '198.51.100.1');
    assert.equal(t.client('127.0.0.1', undefined), '127.0.0.1');
    assert.equal(t.client('127.0.0.1', ''), '127.0.0.1');
  });

  it('garbage stops the walk at the proxy that wrote it', () => {
    const t = TrustProxy.parse('loopback,10.0.0.0/8');
    assert.equal(t.client('127.0.0.1', 'not-an-address'), '127.0.0.1');
    assert.equal(t.client('127.0.0.1', '198.51.100.1, garbage, 10.0.0.7'), '10.0.0.7');
    assert.equal(t.client('127.0.0.1', ',,,'), '127.0.0.1');
    assert.equal(t.client('127.0.0.1', '[::1'), '127.0.0.1');
    assert.equal(t.client('127.0.0.1', '\u0000\r\n'), '127.0.0.1');
    assert.equal(t.client('127.0.0.1', '1.2.3.4.5'), '127.0.0.1');
  });

  it('oversize X-Forwarded-For: only its right end is read, and the cut entry is not believed', () => {
    const t = TrustProxy.parse('loopback');
    assert.equal(t.client('127.0.0.1', `${'9'.repeat(100_000)}, 198.51.100.1`), '198.51.100.1');
    // A chain of trusted addresses longer than the walk: the last one reached stands (a proxy's, not a forged one).
    const chain = Array.from({ length: 40 }, () => '127.0.0.2').join(',');
    assert.equal(t.client('127.0.0.1', `198.51.100.1,${chain}`), '127.0.0.2');
    // The entry cut in half at the MAX_XFF_CHARS boundary does not count.
    const cut = `198.51.100.123,${'127.0.0.3,'.repeat(Math.ceil(MAX_XFF_CHARS / 10))}`.slice(0, -1);
    assert.notEqual(t.client('127.0.0.1', cut), '198.51.100.123');
  });

  it('normalizes addresses', () => {
    assert.equal(normalizeAddress(' 1.2.3.4 '), '1.2.3.4');
    assert.equal(normalizeAddress('fe80::1%eth0'), 'fe80::1');
    assert.equal(normalizeAddress('nope'), '');
  });
});
