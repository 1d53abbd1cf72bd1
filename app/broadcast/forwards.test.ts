import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { parseForwardUrl } from '../../server/forward/url';
import { addForward, describeState, draftTarget, explainError, listForwards, removeForward, setForwardEnabled } from './forwards';

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

test('presets: the platform server with the key as the last path part, labelled by the platform', () => {
  assert.deepEqual(draftTarget('youtube', { key: 'abcd-efgh-ijkl-mnop' }), { ok: true, url: 'rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop', label: 'YouTube' });
  assert.deepEqual(draftTarget('twitch', { key: ' live_123_abc ', label: 'My Twitch' }), { ok: true, url: 'rtmp://live.twitch.tv/app/live_123_abc', label: 'My Twitch' });
  const fb = draftTarget('facebook', { key: 'FB-1234567890-0-AbCdEf?s_bl=1&s_sw=0' });
  assert.deepEqual(fb, { ok: true, url: 'rtmps://live-api-s.facebook.com:443/rtmp/FB-1234567890-0-AbCdEf?s_bl=1&s_sw=0', label: 'Facebook' });
  // The server field is ignored for a platform preset.
  assert.equal((draftTarget('youtube', { server: 'rtmp://evil.example/x', key: 'k' }) as { url: string }).url, 'rtmp://a.rtmp.youtube.com/live2/k');
  // What the presets make, the server's own parser takes: key and application where the platform wants them.
  const u = parseForwardUrl((fb as { url: string }).url);
  assert.equal(u.secure, true);
  assert.equal(u.port, 443);
  assert.equal(u.app, 'rtmp');
  assert.equal(u.key, 'FB-1234567890-0-AbCdEf?s_bl=1&s_sw=0');
  for (const id of ['youtube', 'twitch'] as const) {
    const d = draftTarget(id, { key: 'some-key-1234' });
    assert.ok(d.ok);
    assert.equal(parseForwardUrl(d.url).key, 'some-key-1234');
  }
});

test('custom: server and key joined with one slash; label defaults to the host', () => {
  assert.deepEqual(draftTarget('custom', { server: ' rtmp://127.0.0.1:1936/live/ ', key: '/mykey' }), { ok: true, url: 'rtmp://127.0.0.1:1936/live/mykey', label: '127.0.0.1' });
  assert.deepEqual(draftTarget('custom', { server: 'rtmps://ingest.example.com/app/sub', key: 'k', label: '  Edge ' }), { ok: true, url: 'rtmps://ingest.example.com/app/sub/k', label: 'Edge' });
});

test('a form that cannot make a target says why (nothing is sent)', () => {
  const err = (d: ReturnType<typeof draftTarget>) => (d.ok ? 'ok' : d.error);
  assert.match(err(draftTarget('youtube', { key: '   ' })), /stream key YouTube gave you/);
  assert.match(err(draftTarget('twitch', { key: 'has space' })), /spaces/);
  assert.match(err(draftTarget('custom', { server: '', key: 'k' })), /Enter the server URL/);
  assert.match(err(draftTarget('custom', { server: 'http://example.com/live', key: 'k' })), /rtmp:\/\/ or rtmps:\/\//);
  assert.match(err(draftTarget('custom', { server: 'rtmp://example.com', key: 'k' })), /needs an application/);
  assert.match(err(draftTarget('custom', { server: 'rtmp://example.com/', key: 'k' })), /needs an application/);
  assert.match(err(draftTarget('custom', { server: 'rtmp://example.com/live', key: '' })), /Enter the stream key\./);
});

test('states read as the operator needs them', () => {
  const s = (state: Parameters<typeof describeState>[0]['state'], extra: Partial<Parameters<typeof describeState>[0]> = {}) =>
    describeState({ state, bitrateKbps: 0, ...extra });
  assert.deepEqual(s('live', { bitrateKbps: 2512.4 }), { text: 'live · 2512 kbps', tone: 'good' });
  assert.deepEqual(s('connecting'), { text: 'connecting', tone: 'warn' });
  assert.equal(s('connecting', { reason: 'connection refused by 127.0.0.1:9' }).text, 'connecting (last try failed: connection refused by 127.0.0.1:9)');
  assert.deepEqual(s('retrying', { retryInSeconds: 4, reason: 'the target closed the connection' }), { text: 'retrying in 4 s: the target closed the connection', tone: 'warn' });
  assert.equal(s('retrying').text, 'retrying in a moment');
  assert.deepEqual(s('failed', { retryInSeconds: 30, reason: 'publish refused: NetStream.Publish.BadName' }), {
    text: 'failed: publish refused: NetStream.Publish.BadName (next try in 30 s)',
    tone: 'bad',
  });
  assert.equal(s('failed').text, 'failed: no reason given (next try in a moment)');
  assert.equal(s('idle').text, 'starts when you go live');
  assert.deepEqual(s('disabled'), { text: 'off', tone: 'off' });
});

interface Seen {
  url: string;
  method: string;
  contentType: string | null;
  body: string | null;
}

function serve(answer: (s: Seen) => Response): Seen[] {
  const seen: Seen[] = [];
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const s: Seen = { url: String(input), method: init?.method ?? 'GET', contentType: new Headers(init?.headers).get('content-type'), body: typeof init?.body === 'string' ? init.body : null };
    seen.push(s);
    return answer(s);
  }) as typeof fetch;
  return seen;
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

test('API: the routes of the issue, JSON writes, ids URL-encoded', async () => {
  const target = { id: 'f1', label: 'YouTube', url: 'rtmp://a.rtmp.youtube.com/live2/••••', enabled: true, state: 'idle', bitrateKbps: 0 };
  const seen = serve((s) => (s.method === 'DELETE' ? new Response(null, { status: 204 }) : s.method === 'GET' ? json(200, { forwards: [target] }) : json(s.method === 'POST' ? 201 : 200, target)));
  assert.deepEqual(await listForwards('a/b'), [target]);
  assert.deepEqual(await addForward('s1', { url: 'rtmp://h/app/k', label: 'L' }), target);
  await setForwardEnabled('s1', 'f/1', false);
  await removeForward('s1', 'f1');
  assert.deepEqual(
    seen.map((s) => [s.method, s.url, s.contentType, s.body]),
    [
      ['GET', '/api/streams/a%2Fb/forwards', null, null],
      ['POST', '/api/streams/s1/forwards', 'application/json', '{"url":"rtmp://h/app/k","label":"L"}'],
      ['PATCH', '/api/streams/s1/forwards/f%2F1', 'application/json', '{"enabled":false}'],
      ['DELETE', '/api/streams/s1/forwards/f1', null, null],
    ],
  );
});

test('API errors read clearly: not signed in, a bad URL, too many, the server unreachable', async () => {
  const failWith = async (answer: () => Response) => {
    serve(answer);
    try {
      await addForward('s1', { url: 'rtmp://h/app/k', label: '' });
    } catch (err) {
      return explainError(err, 'add the target');
    }
    throw new Error('expected a failure');
  };
  const out = await failWith(() => json(401, { error: 'operator sign-in required' }));
  assert.equal(out.signedOut, true);
  assert.match(out.text, /^Sign in as the operator to add the target: .*operator sign-in required/);
  assert.deepEqual(await failWith(() => json(400, { error: 'bad url: url has an invalid host' })), {
    text: 'The server refused this target: bad url: url has an invalid host.',
    signedOut: false,
  });
  assert.match((await failWith(() => json(409, { error: 'a stream has at most 10 forward targets' }))).text, /^Could not add the target: a stream has at most 10/);
  assert.match((await failWith(() => json(404, { error: 'no such stream' }))).text, /no such stream \(the stream or the target was deleted\?\)/);
  assert.match((await failWith(() => new Response('<html>oops', { status: 502 }))).text, /Could not add the target: the server answered 502/);
  serve(() => {
    throw new TypeError('fetch failed');
  });
  const unreachable = await addForward('s1', { url: 'rtmp://h/app/k', label: '' }).catch((e: unknown) => explainError(e, 'add the target'));
  assert.match((unreachable as { text: string }).text, /Could not add the target: Could not reach the server: fetch failed/);
});
