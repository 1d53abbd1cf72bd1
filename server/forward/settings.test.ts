import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../config';

describe('FORWARD_* settings', () => {
  test('defaults that work, and what they become', () => {
    assert.deepEqual(loadConfig({}).forward, { connectTimeoutMs: 10_000, retryMinMs: 1000, retryMaxMs: 30_000, tlsCaFile: undefined, tlsAllowSelfSigned: false });
    const c = loadConfig({ FORWARD_CONNECT_TIMEOUT_SECONDS: '2.5', FORWARD_RETRY_MIN_SECONDS: '5', FORWARD_RETRY_MAX_SECONDS: '2', FORWARD_TLS_CA_FILE: 'ca.pem', FORWARD_TLS_ALLOW_SELF_SIGNED: '1' }).forward;
    assert.deepEqual(c, { connectTimeoutMs: 2500, retryMinMs: 5000, retryMaxMs: 5000, tlsCaFile: path.resolve('ca.pem'), tlsAllowSelfSigned: true });
  });

  test('bad values stop the start naming the variable', () => {
    for (const [name, value] of [
      ['FORWARD_CONNECT_TIMEOUT_SECONDS', '0'],
      ['FORWARD_RETRY_MIN_SECONDS', '-1'],
      ['FORWARD_RETRY_MAX_SECONDS', 'soon'],
      ['FORWARD_TLS_ALLOW_SELF_SIGNED', 'yes'],
    ]) {
      assert.throws(() => loadConfig({ [name]: value }), (err: Error) => err instanceof ConfigError && err.message.includes(name), name);
    }
  });
});
