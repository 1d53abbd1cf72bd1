import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secureContextAdvice } from './secure-context';

test('the start log warns when /broadcast will not be a secure context, and says what to do', () => {
  const advice = secureContextAdvice({ tls: false, host: '0.0.0.0', publicUrl: undefined, port: 3000 });
  assert.ok(advice);
  assert.match(advice, /not a secure context/);
  assert.match(advice, /TLS_CERT and TLS_KEY/);
  assert.match(advice, /reverse proxy/);
  assert.match(advice, /http:\/\/localhost:3000/);
  assert.ok(secureContextAdvice({ tls: false, host: '192.168.1.5', publicUrl: 'http://cam.lan:3000', port: 3000 }));
  // Secure already, or reachable from this machine only.
  assert.equal(secureContextAdvice({ tls: true, host: '0.0.0.0', publicUrl: undefined, port: 3000 }), null);
  assert.equal(secureContextAdvice({ tls: false, host: '0.0.0.0', publicUrl: 'https://live.example.com', port: 3000 }), null);
  assert.equal(secureContextAdvice({ tls: false, host: '127.0.0.1', publicUrl: undefined, port: 3000 }), null);
  assert.equal(secureContextAdvice({ tls: false, host: '::1', publicUrl: undefined, port: 3000 }), null);
});
