import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { SignedOutError, signIn } from '../lib/session';
import { createManaged, deleteStream, listAll, rotateKey, updateStream } from './api';

interface Seen {
  url: string;
  method: string;
  contentType: string | null;
  body: string | null;
  credentials: RequestCredentials | undefined;
}

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

/** A fake server: records each request and answers with `answer`. */
function serve(answer: (s: Seen) => Response): Seen[] {
  const seen: Seen[] = [];
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    const s: Seen = {
      url: String(input),
      method: init?.method ?? 'GET',
      contentType: headers.get('content-type'),
      body: typeof init?.body === 'string' ? init.body : null,
      credentials: init?.credentials,
    };
    seen.push(s);
    return answer(s);
  }) as typeof fetch;
  return seen;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

test('every write is JSON with Content-Type: application/json, same-origin credentials, ids URL-encoded', async () => {
  const seen = serve((s) => (s.method === 'DELETE' ? new Response(null, { status: 204 }) : json(200, { id: 'x', key: 'k', urls: {}, streams: [] })));
  await createManaged('Hi', false);
  await updateStream('a/b', { listed: true });
  await rotateKey('abc');
  await deleteStream('abc');
  await listAll();
  const writes = seen.filter((s) => s.method !== 'GET' && s.method !== 'DELETE');
  assert.equal(writes.length, 3);
  for (const w of writes) {
    assert.equal(w.contentType, 'application/json', `${w.method} ${w.url}`);
    assert.doesNotThrow(() => JSON.parse(w.body ?? ''), `${w.method} ${w.url} body is JSON`);
  }
  assert.deepEqual(JSON.parse(seen[0].body ?? ''), { title: 'Hi', listed: false });
  assert.equal(seen[1].url, '/api/streams/a%2Fb');
  assert.equal(seen[1].method, 'PATCH');
  assert.equal(seen[2].url, '/api/streams/abc/key');
  assert.equal(seen[2].body, '{}');
  assert.equal(seen[3].method, 'DELETE');
  assert.equal(seen[4].url, '/api/streams?all=1');
  assert.ok(seen.every((s) => s.credentials === 'same-origin'));
});

test('401 is SignedOutError; other errors carry the server reason', async () => {
  serve(() => json(401, { error: 'sign in first' }));
  await assert.rejects(listAll(), (err: unknown) => err instanceof SignedOutError && /sign in first/.test((err as Error).message));
  serve(() => json(404, { error: 'no such stream' }));
  await assert.rejects(deleteStream('gone'), (err: unknown) => !(err instanceof SignedOutError) && /no such stream/.test((err as Error).message));
  serve(() => new Response('<html>oops</html>', { status: 502 }));
  await assert.rejects(rotateKey('x'), /502/);
  serve(() => json(200, { streams: 'not a list' }));
  assert.deepEqual(await listAll(), []);
});

test('signIn posts the token as JSON and tells a wrong token from being slowed down', async () => {
  const seen = serve(() => new Response(null, { status: 204 }));
  assert.deepEqual(await signIn('t0ken'), { ok: true });
  assert.equal(seen[0].url, '/api/session');
  assert.equal(seen[0].method, 'POST');
  assert.equal(seen[0].contentType, 'application/json');
  assert.deepEqual(JSON.parse(seen[0].body ?? ''), { token: 't0ken' });
  assert.ok(!seen[0].url.includes('t0ken'), 'never in the URL');

  serve(() => json(401, { error: 'wrong token' }));
  const wrong = await signIn('x');
  assert.equal(wrong.ok, false);
  assert.match(!wrong.ok ? wrong.error : '', /not right.*wrong token/);

  serve(() => json(429, { error: 'slow down' }, { 'Retry-After': '8' }));
  const slowed = await signIn('x');
  assert.deepEqual(slowed.ok ? null : slowed.retryAfterSeconds, 8);
  assert.match(!slowed.ok ? slowed.error : '', /in 8 s/);

  globalThis.fetch = (async () => {
    throw new TypeError('network down');
  }) as typeof fetch;
  const down = await signIn('x');
  assert.match(!down.ok ? down.error : '', /Could not reach the server: network down/);
});
