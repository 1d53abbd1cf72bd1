/**
 * Operator access against the real server: credentials, cross-site rules, stream management reaching live RTMP
 * players and LL-HLS viewers, unlisted streams, BROADCAST_AUTH=open, and what the process says at start.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectPlayer, connectPublisher } from '../testing/rtmp-client';
import { operatorHeaders, publishTestStream, startTestServer, TEST_ADMIN_TOKEN, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';

const JSON_TYPE = { 'Content-Type': 'application/json' };

async function json(res: Response): Promise<Record<string, unknown>> {
  const type = res.headers.get('content-type') ?? '';
  assert.match(type, /application\/json/, `${res.status} answers JSON`);
  return (await res.json()) as Record<string, unknown>;
}

/** A raw HTTP upgrade to /ingest with these headers; resolves with the status line. */
function upgradeStatus(port: number, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) {
        socket.destroy();
        resolve(got.slice(0, got.indexOf('\r\n')));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    const lines = [
      'GET /ingest HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

describe('operator access', () => {
  let server: TestServer;
  const publishers: Proc[] = [];
  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '30', HLS_IDLE_STOP_SECONDS: '0' });
  });
  after(async () => {
    for (const p of publishers) await p.kill('SIGKILL');
    await server.stop();
  });

  test('creating needs the operator: 401 with a reason, 201 with the token', async () => {
    const anon = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: JSON_TYPE, body: '{}' });
    assert.equal(anon.status, 401);
    assert.match(String((await json(anon)).error), /sign/);
    const wrong = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: operatorHeaders('not-the-token-at-all'), body: '{}' });
    assert.equal(wrong.status, 401);
    assert.match(String((await json(wrong)).error), /wrong operator token/);
    const basic = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: { ...JSON_TYPE, Authorization: 'Basic Zm9vOmJhcg==' }, body: '{}' });
    assert.equal(basic.status, 401);
    const ok = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: operatorHeaders(), body: '{"title":"mine"}' });
    assert.equal(ok.status, 201);
    // Everything else an operator does needs the credential too.
    const id = String((await json(ok)).id);
    for (const [method, p, body] of [
      ['GET', '/api/streams?all=1', undefined],
      ['PATCH', `/api/streams/${id}`, '{"title":"x"}'],
      ['DELETE', `/api/streams/${id}`, undefined],
      ['POST', `/api/streams/${id}/key`, '{}'],
    ] as const) {
      const res = await fetch(`${server.http}${p}`, { method, headers: JSON_TYPE, body });
      assert.equal(res.status, 401, `${method} ${p}`);
      assert.ok((await json(res)).error);
    }
    assert.equal(server.registry.get(id)?.title, 'mine', 'nothing changed');
  });

  test('writes must be JSON from our own origin', async () => {
    const text = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: { ...operatorHeaders(), 'Content-Type': 'text/plain' }, body: '{}' });
    assert.equal(text.status, 415);
    const form = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, body: new URLSearchParams({ title: 'x' }) });
    assert.equal(form.status, 415);
    for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${server.httpPort + 1}`]) {
      const res = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: { ...operatorHeaders(), Origin: origin }, body: '{}' });
      assert.equal(res.status, 403, origin);
      assert.ok((await json(res)).error);
    }
    const own = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: { ...operatorHeaders(), Origin: server.http }, body: '{}' });
    assert.equal(own.status, 201);
    // The broadcast WebSocket checks Origin too: a page elsewhere cannot broadcast through its visitors.
    assert.match(await upgradeStatus(server.httpPort, { Origin: 'https://evil.example' }), /^HTTP\/1\.1 403/);
    assert.match(await upgradeStatus(server.httpPort, { Origin: server.http }), /^HTTP\/1\.1 101/);
    assert.match(await upgradeStatus(server.httpPort, {}), /^HTTP\/1\.1 101/);
  });

  test('a page signs in once with the token (HttpOnly cookie) and signs out', async () => {
    const before = await json(await fetch(`${server.http}/api/session`));
    assert.deepEqual(before, { signedIn: false, auth: 'token' });
    const bad = await fetch(`${server.http}/api/session`, { method: 'POST', headers: { ...JSON_TYPE, Origin: server.http }, body: JSON.stringify({ token: 'nope-nope-nope-nope' }) });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.get('set-cookie'), null);
    const res = await fetch(`${server.http}/api/session`, { method: 'POST', headers: { ...JSON_TYPE, Origin: server.http }, body: JSON.stringify({ token: TEST_ADMIN_TOKEN }) });
    assert.equal(res.status, 204);
    const setCookie = res.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^golive_session=[A-Za-z0-9_-]{40,}; /);
    for (const flag of ['HttpOnly', 'SameSite=Strict', 'Path=/']) assert.ok(setCookie.includes(flag), flag);
    const cookie = setCookie.split(';')[0];
    assert.deepEqual(await json(await fetch(`${server.http}/api/session`, { headers: { Cookie: cookie } })), { signedIn: true, auth: 'token' });
    const created = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: { ...JSON_TYPE, Cookie: cookie, Origin: server.http }, body: '{}' });
    assert.equal(created.status, 201);
    const all = await fetch(`${server.http}/api/streams?all=1`, { headers: { Cookie: cookie } });
    assert.equal(all.status, 200);
    const out = await fetch(`${server.http}/api/session`, { method: 'DELETE', headers: { Cookie: cookie, Origin: server.http } });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
    const after = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: { ...JSON_TYPE, Cookie: cookie }, body: '{}' });
    assert.equal(after.status, 401, 'the old cookie no longer works');
    const forged = await fetch(`${server.http}/api/streams?all=1`, { headers: { Cookie: 'golive_session=forged-value-forged-value-forged-value-forged' } });
    assert.equal(forged.status, 401);
  });

  test('deleting a live stream ends it for RTMP players and LL-HLS; its key is refused', async () => {
    const s = await server.createStream('to delete');
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { gop: 10 });
    publishers.push(pub);
    await waitLive(server, s.id);
    const player = await connectPlayer(`${server.rtmpUrl}/${s.id}`);
    const playlistUrl = `${server.http}/hls/${s.id}/index.m3u8`;
    await waitFor('a playlist with parts', async () => {
      const r = await fetch(playlistUrl);
      return r.ok && (await r.text()).includes('#EXT-X-PART:');
    }, 20_000);
    await waitFor('media at the player', () => player.media.videoMessages > 5);
    const stopped = player.waitStatus(player.streamId, ['NetStream.Play.Stop', 'NetStream.Play.UnpublishNotify']);

    const del = await fetch(`${server.http}/api/streams/${s.id}`, { method: 'DELETE', headers: operatorHeaders() });
    assert.equal(del.status, 204);
    await stopped;
    const playlist = await (await fetch(playlistUrl)).text();
    assert.ok(playlist.includes('#EXT-X-ENDLIST'), 'the HLS playlist ends');
    assert.equal(await pub.exited.then(() => 'exited'), 'exited', 'the publisher was cut');
    await assert.rejects(connectPublisher(`${server.rtmpUrl}/${s.key}`), /BadName|Unauthor|refused|Rejected|key/i);
    assert.equal((await fetch(`${server.http}/api/streams/${s.id}`)).status, 404);
    const listed = (await json(await fetch(`${server.http}/api/streams?all=1`, { headers: operatorHeaders() }))).streams as Array<{ id: string }>;
    assert.ok(!listed.some((x) => x.id === s.id));
    await player.close();
    assert.equal((await fetch(`${server.http}/api/streams/${s.id}`, { method: 'DELETE', headers: operatorHeaders() })).status, 404);
  });

  test('rotating the key: the live publish goes on, the old key is refused next time, the new one works', async () => {
    const s = await server.createStream('rotate');
    const pub = await connectPublisher(`${server.rtmpUrl}/${s.key}`);
    const res = await fetch(`${server.http}/api/streams/${s.id}/key`, { method: 'POST', headers: operatorHeaders(), body: '{}' });
    assert.equal(res.status, 200);
    const body = await json(res);
    const key = String(body.key);
    assert.ok(key.startsWith(`${s.id}_`) && key !== s.key);
    assert.equal((body.urls as Record<string, string>).rtmpPublish, `${server.rtmpUrl}/${key}`);
    assert.equal(server.hub.isLive(s.id), true, 'the live publish is not cut');
    assert.equal(pub.closeReason, null);
    await pub.unpublish();
    await waitFor('stream idle', () => !server.hub.isLive(s.id));
    await assert.rejects(connectPublisher(`${server.rtmpUrl}/${s.key}`));
    const again = await connectPublisher(`${server.rtmpUrl}/${key}`);
    assert.equal(server.hub.isLive(s.id), true);
    await again.unpublish();
  });

  test('an unlisted stream is not in the directory but plays by its link', async () => {
    const res = await fetch(`${server.http}/api/streams`, { method: 'POST', headers: operatorHeaders(), body: '{"title":"secret show","listed":false}' });
    assert.equal(res.status, 201);
    const s = (await json(res)) as { id: string; key: string; listed: boolean };
    assert.equal(s.listed, false);
    const listed = await server.createStream('public show');
    const pubs = [publishTestStream(`${server.rtmpUrl}/${s.key}`), publishTestStream(`${server.rtmpUrl}/${listed.key}`)];
    publishers.push(...pubs);
    await waitLive(server, s.id);
    await waitLive(server, listed.id);
    const dir = (await json(await fetch(`${server.http}/api/streams`))).streams as Array<{ id: string }>;
    assert.ok(dir.some((x) => x.id === listed.id), 'the listed one is there');
    assert.ok(!dir.some((x) => x.id === s.id), 'the unlisted one is not');
    const one = await json(await fetch(`${server.http}/api/streams/${s.id}`));
    assert.equal(one.live, true);
    assert.equal(one.listed, false);
    const player = await connectPlayer(`${server.rtmpUrl}/${s.id}`);
    await waitFor('media', () => player.media.videoMessages > 2);
    await player.close();
    const hls = await fetch(`${server.http}/hls/${s.id}/index.m3u8`);
    assert.equal(hls.status, 200);
    // Listing it again brings it back.
    const patch = await fetch(`${server.http}/api/streams/${s.id}`, { method: 'PATCH', headers: operatorHeaders(), body: '{"listed":true,"title":"now public"}' });
    assert.equal(patch.status, 200);
    assert.equal((await json(patch)).title, 'now public');
    const dir2 = (await json(await fetch(`${server.http}/api/streams`))).streams as Array<{ id: string; title: string }>;
    assert.equal(dir2.find((x) => x.id === s.id)?.title, 'now public');
    // The operator's list has every stream, live or not, with its last live time.
    const all = (await json(await fetch(`${server.http}/api/streams?all=1`, { headers: operatorHeaders() }))).streams as Array<{ id: string; lastLiveAt: string | null; live: boolean }>;
    const mine = all.find((x) => x.id === s.id);
    assert.ok(mine?.live && mine.lastLiveAt && Date.now() - Date.parse(mine.lastLiveAt) < 120_000);
    assert.ok(all.some((x) => !x.live && x.lastLiveAt === null), 'offline streams never published are listed too');
    for (const p of pubs) await p.kill('SIGKILL');
    for (const bad of ['{"listed":"yes"}', '{}', '{"key":"x"}', 'nope']) {
      const r = await fetch(`${server.http}/api/streams/${s.id}`, { method: 'PATCH', headers: operatorHeaders(), body: bad });
      assert.equal(r.status, 400, bad);
    }
  });

  test('repeated wrong tokens from one address are slowed down (429 + Retry-After)', async () => {
    // Its own server: the failures are per address, and every test here comes from 127.0.0.1.
    const s = await startTestServer();
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 8; i++) {
        const res = await fetch(`${s.http}/api/session`, { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ token: `guess-number-${i}-xxxxxx` }) });
        statuses.push(res.status);
        if (res.status === 429) retryAfter = res.headers.get('retry-after');
        await res.arrayBuffer();
      }
      assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
      assert.ok(statuses.slice(5).includes(429), statuses.join(','));
      assert.ok(Number(retryAfter) >= 1);
      // While slowed down even the right token waits (no guessing through), over Bearer too.
      const right = await fetch(`${s.http}/api/session`, { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ token: TEST_ADMIN_TOKEN }) });
      assert.equal(right.status, 429);
      const bearer = await fetch(`${s.http}/api/streams`, { method: 'POST', headers: operatorHeaders(), body: '{}' });
      assert.equal(bearer.status, 429);
    } finally {
      await s.stop();
    }
  });

  test('10,000 creates: none stalls the event loop', async () => {
    const s = await startTestServer();
    try {
      const N = 10_000;
      let worst = 0;
      const started = performance.now();
      // Eight at a time, as a script would.
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < N) {
            next++;
            const t = performance.now();
            const res = await fetch(`${s.http}/api/streams`, { method: 'POST', headers: operatorHeaders(), body: '{}' });
            assert.equal(res.status, 201);
            await res.arrayBuffer();
            worst = Math.max(worst, performance.now() - t);
          }
        }),
      );
      const total = performance.now() - started;
      console.log(`10,000 creates: ${(total / 1000).toFixed(1)} s, ${Math.round(N / (total / 1000))}/s, slowest ${worst.toFixed(1)} ms`);
      assert.equal(s.registry.size, N);
      assert.ok(worst < 2000, `slowest create ${worst.toFixed(0)} ms`);
      // The cap holds, with a reason.
      const full = await fetch(`${s.http}/api/streams`, { method: 'POST', headers: operatorHeaders(), body: '{}' });
      assert.equal(full.status, 503);
      assert.match(String((await json(full)).error), /10000 streams/);
    } finally {
      await s.stop();
    }
  });
});

describe('BROADCAST_AUTH=open', () => {
  test('anyone may create streams, rate-limited per address; managing still needs the operator', async () => {
    const s = await startTestServer({ BROADCAST_AUTH: 'open', CREATE_RATE_PER_MINUTE: '3' });
    try {
      assert.deepEqual(await json(await fetch(`${s.http}/api/session`)), { signedIn: false, auth: 'open' });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${s.http}/api/streams`, { method: 'POST', headers: JSON_TYPE, body: '{}' });
        statuses.push(res.status);
        if (res.status === 429) assert.ok(Number(res.headers.get('retry-after')) >= 1);
        await res.arrayBuffer();
      }
      assert.deepEqual(statuses, [201, 201, 201, 429, 429]);
      const op = await fetch(`${s.http}/api/streams`, { method: 'POST', headers: operatorHeaders(), body: '{}' });
      assert.equal(op.status, 201, 'the operator is not rate-limited');
      const id = String((await json(op)).id);
      assert.equal((await fetch(`${s.http}/api/streams/${id}`, { method: 'DELETE' })).status, 401);
      assert.equal((await fetch(`${s.http}/api/streams`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{}' })).status, 415);
    } finally {
      await s.stop();
    }
  });
});

describe('the process at start', () => {
  /** Run the real server entry until it prints `until` or exits; returns its output and exit code. */
  function runServer(env: Record<string, string>, until: RegExp): Promise<{ out: string; err: string; code: number | null }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts', '--api-only'], {
        env: { ...process.env, PORT: '0', RTMP_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ADMIN_TOKEN: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      const done = (code: number | null) => resolve({ out, err, code });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (until.test(out)) child.kill('SIGTERM');
      });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('close', (code) => {
        clearTimeout(timer);
        done(code);
      });
    });
  }

  test('a first start makes the token and logs a sign-in link with it in the fragment', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-start-'));
    const { out } = await runServer({ DATA_DIR: dir }, /operator sign-in/);
    const token = (await readFile(path.join(dir, 'admin-token'), 'utf8')).trim();
    const m = /operator sign-in: (http:\/\/127\.0\.0\.1:\d+\/signin#token=(\S+))/.exec(out);
    assert.ok(m, out.slice(0, 2000));
    assert.equal(decodeURIComponent(m[2]), token);
  });

  test('a corrupt database stops the server with one clear line', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-start-'));
    await writeFile(path.join(dir, 'golive.db'), Buffer.alloc(8192, 0x5a));
    const { err, code } = await runServer({ DATA_DIR: dir }, /HTTP listening/);
    assert.equal(code, 1);
    const lines = err.trim().split('\n');
    assert.equal(lines.length, 1, err);
    assert.match(lines[0], /^startup error: the database .*golive\.db is unreadable or corrupt/);
  });
});

describe('a database that refuses writes', () => {
  test('answers 503 with a reason, the server keeps running, and writes work again once it accepts them', async () => {
    const s = await startTestServer();
    try {
      const before = await s.createStream('before');
      // Every write now fails as on a full or read-only disk (SQLITE_READONLY); reads still work.
      s.registry.db.pragma('query_only = ON');
      const res = await fetch(`${s.http}/api/streams`, { method: 'POST', headers: operatorHeaders(), body: '{}' });
      assert.equal(res.status, 503);
      assert.match(String((await json(res)).error), /database refused/);
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
      const patch = await fetch(`${s.http}/api/streams/${before.id}`, { method: 'PATCH', headers: operatorHeaders(), body: '{"title":"x"}' });
      assert.equal(patch.status, 503);
      assert.equal(s.registry.get(before.id)?.title, 'before', 'memory follows the database, not the failed change');
      assert.equal(s.registry.setTitle(before.id, 'from a broadcast page'), false, 'a best-effort title does not throw');
      assert.equal((await fetch(`${s.http}/api/streams/${before.id}`)).status, 200);
      s.registry.db.pragma('query_only = OFF');
      // Nothing stays broken: the next writes go through.
      const after = await s.createStream('after');
      assert.ok(s.registry.get(after.id));
      const again = await fetch(`${s.http}/api/streams/${before.id}`, { method: 'PATCH', headers: operatorHeaders(), body: '{"title":"renamed"}' });
      assert.equal(again.status, 200);
    } finally {
      await s.stop();
    }
  });
});
