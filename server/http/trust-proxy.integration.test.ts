/**
 * TRUST_PROXY on the real server: a forged X-Forwarded-For from an untrusted peer is ignored (it cannot escape the
 * sign-in limit or the realtime per-address cap); through a trusted proxy the limits apply per real client; garbage
 * and oversize values neither crash nor free anyone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { createStreamAt, startTestServer, type TestServer } from '../testing/harness';

/** A wrong sign-in from "xff" (sent as X-Forwarded-For unless null): its status. */
async function wrongSignIn(server: TestServer, xff: string | null): Promise<number> {
  const origin = `http://127.0.0.1:${server.httpPort}`;
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Origin: origin };
  if (xff !== null) headers['X-Forwarded-For'] = xff;
  const res = await fetch(`${origin}/api/session`, { method: 'POST', headers, body: JSON.stringify({ token: 'wrong-wrong-wrong-wrong' }) });
  await res.arrayBuffer();
  return res.status;
}

/** Open a realtime socket as `xff`: resolves 'open' once it is held, or the close code it got. */
function realtime(server: TestServer, id: string, xff: string): { ws: WebSocket; result: Promise<'open' | number> } {
  const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/realtime/${id}`, { headers: { 'X-Forwarded-For': xff } });
  ws.on('error', () => undefined);
  const result = new Promise<'open' | number>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    ws.on('open', () => (timer = setTimeout(() => resolve('open'), 300)));
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  return { ws, result };
}

describe('TRUST_PROXY unset: X-Forwarded-For is ignored', () => {
  let server: TestServer;
  let id: string;
  before(async () => {
    server = await startTestServer({ REALTIME_MAX_SOCKETS_PER_ADDRESS: '1' });
    id = (await createStreamAt(`http://127.0.0.1:${server.httpPort}`)).id;
  });
  after(() => server.close());

  test('a new forged address per try does not escape the sign-in limit', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push(await wrongSignIn(server, `198.51.100.${i + 1}`));
    assert.deepEqual(codes.slice(0, 6), [401, 401, 401, 401, 401, 401]);
    assert.equal(codes[6], 429);
  });

  test('nor the realtime sockets per address', async () => {
    const a = realtime(server, id, '198.51.100.1');
    assert.equal(await a.result, 'open');
    const b = realtime(server, id, '198.51.100.2');
    assert.equal(await b.result, 4429);
    a.ws.close();
  });
});

describe('TRUST_PROXY=loopback: limits per forwarded client', () => {
  let server: TestServer;
  let id: string;
  before(async () => {
    server = await startTestServer({ TRUST_PROXY: 'loopback', REALTIME_MAX_SOCKETS_PER_ADDRESS: '1' });
    id = (await createStreamAt(`http://127.0.0.1:${server.httpPort}`)).id;
  });
  after(() => server.close());

  test('sign-in failures count per client: one is slowed down, the others are not', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push(await wrongSignIn(server, '203.0.113.9'));
    assert.equal(codes[6], 429);
    // Forged entries left of the proxy's own do not free the client.
    assert.equal(await wrongSignIn(server, '10.9.9.9, 203.0.113.9'), 429);
    assert.equal(await wrongSignIn(server, `${'1'.repeat(8000)}, 203.0.113.9`), 429);
    // Another client behind the same proxy is heard.
    assert.equal(await wrongSignIn(server, '203.0.113.10'), 401);
    // Six clients, one failure each: none is slowed.
    for (let i = 0; i < 6; i++) assert.equal(await wrongSignIn(server, `192.0.2.${i + 1}`), 401);
  });

  test('garbage X-Forwarded-For: the proxy itself is the client, nothing breaks', async () => {
    for (const xff of ['not-an-address', ',,,', '[::1', '1.2.3.4.5', 'x'.repeat(12_000)]) {
      assert.equal(await wrongSignIn(server, xff), 401, xff.slice(0, 20));
    }
    // Those were all the peer's (127.0.0.1): one more from the peer is its sixth failure, the next is slowed.
    assert.equal(await wrongSignIn(server, null), 401);
    assert.equal(await wrongSignIn(server, null), 429);
    assert.equal(await wrongSignIn(server, 'garbage'), 429);
  });

  test('realtime sockets per client behind the proxy', async () => {
    const a = realtime(server, id, '203.0.113.1');
    assert.equal(await a.result, 'open');
    const again = realtime(server, id, '6.6.6.6, 203.0.113.1');
    assert.equal(await again.result, 4429);
    const b = realtime(server, id, '203.0.113.2');
    assert.equal(await b.result, 'open');
    a.ws.close();
    b.ws.close();
  });
});
