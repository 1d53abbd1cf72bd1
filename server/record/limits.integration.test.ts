/**
 * Recordings against misbehaving clients (bad ids, path traversal, garbage Range headers, deletes without or with
 * the wrong credentials, downloads cut midway) and retention (RECORD_MAX_BYTES, RECORD_RETENTION_DAYS) on a real
 * server with real ffmpeg broadcasts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { operatorHeaders, publishTestStream, startTestServer, waitFor, type TestServer } from '../testing/harness';

interface View {
  id: string;
  state: string;
  bytes: number;
  urls: { mp4: string; playlist: string };
}

async function list(server: TestServer, id: string): Promise<View[]> {
  return ((await (await fetch(`${server.http}/api/streams/${id}/recordings`)).json()) as { recordings: View[] }).recordings;
}

async function broadcast(server: TestServer, key: string, id: string, seconds: number, count: number): Promise<View[]> {
  const pub = publishTestStream(`${server.rtmpUrl}/${key}`, { seconds });
  assert.equal(await pub.exited, 0, pub.stderr());
  return waitFor(`recording ${count} of ${id} ended`, async () => {
    const l = await list(server, id);
    return l.length >= count && l[0].state === 'ended' ? l : null;
  }, 30000);
}

/** A raw request (no URL normalising by the client): status and body. */
function raw(server: TestServer, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.httpPort, path: target, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('recordings: hostile clients', () => {
  let server: TestServer;
  let rec: View;
  let streamId: string;
  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '0' });
    const s = await server.createStream('hostile');
    streamId = s.id;
    [rec] = await broadcast(server, s.key, s.id, 3, 1);
  });
  after(() => server.stop());

  it('bad, unknown and oversized recording ids are 404s', async () => {
    for (const id of ['xyz', 'g'.repeat(16), '0'.repeat(16), '%zz', 'A'.repeat(16), `${rec.id}0`, 'a'.repeat(5000), '%00', rec.id.toUpperCase()]) {
      for (const sub of ['', '/index.m3u8', '/fragments.mp4', '/download.mp4']) {
        const r = await raw(server, `/api/recordings/${id}${sub}`);
        assert.equal(r.status, 404, `${id}${sub}`);
        assert.match(r.headers['content-type'] ?? '', /json/);
      }
    }
    assert.equal((await raw(server, `/api/recordings/${rec.id}/other.mp4`)).status, 404);
    assert.equal((await raw(server, `/api/recordings/${rec.id}/download.mp4/x`)).status, 404);
    assert.equal((await raw(server, '/api/streams/%zz/recordings')).status, 404);
    assert.equal((await raw(server, `/api/streams/${'x'.repeat(65)}/recordings`)).status, 404);
    for (const q of ['limit=0', 'limit=101', 'limit=-1', 'limit=abc', 'limit=1.5', 'cursor=garbage', 'cursor=..%2F..']) {
      assert.equal((await raw(server, `/api/streams/${streamId}/recordings?${q}`)).status, 400, q);
    }
  });

  it('viewers need no sign-in: listing and replay answer without credentials, and wrong ones do not turn them away', async () => {
    // Like /hls: anyone with the stream's id may list and replay its broadcasts; only DELETE is the operator's.
    const paths = [`/api/streams/${streamId}/recordings`, `/api/recordings/${rec.id}`, new URL(rec.urls.playlist).pathname, new URL(rec.urls.mp4).pathname];
    paths.push(paths[2].replace('index.m3u8', 'fragments.mp4'));
    const cookie = { Cookie: 'golive_session=not-a-session' };
    const variants: Array<Record<string, string>> = [{}, { Authorization: 'Bearer wrong-token-wrong-token' }, cookie, { Origin: 'http://elsewhere.example' }];
    for (const headers of variants) {
      for (const p of paths) {
        const r = await raw(server, p, headers);
        assert.equal(r.status, 200, `${p} with ${JSON.stringify(headers)}`);
      }
    }
    const listed = JSON.parse((await raw(server, paths[0])).body.toString()) as { recordings: Array<{ id: string }> };
    assert.equal(listed.recordings[0].id, rec.id);
  });

  it('no path reaches a file outside RECORDINGS_DIR', async () => {
    const targets = [
      '/api/recordings/../golive.db',
      '/api/recordings/..%2F..%2Fgolive.db/download.mp4',
      '/api/recordings/%2e%2e%2fgolive.db/fragments.mp4',
      `/api/recordings/${rec.id}/..%2F..%2Fgolive.db`,
      `/api/recordings/${rec.id}%2F..%2F..%2Fgolive.db/download.mp4`,
      '/api/recordings/..%5C..%5Cgolive.db/fragments.mp4',
      `/api/streams/..%2F..%2F/recordings`,
    ];
    for (const t of targets) {
      const r = await raw(server, t);
      assert.ok(r.status === 404 || r.status === 400, `${t}: ${r.status}`);
      assert.ok(!r.body.includes('SQLite format'), t);
    }
  });

  it('garbage Range headers get 416 (or the whole file), never a crash; good ones the right bytes', async () => {
    const full = Buffer.from(await (await fetch(rec.urls.mp4)).arrayBuffer());
    for (const range of ['bytes=abc', 'bytes=5-1', 'bytes=-0', 'bytes=0-1,3-4', `bytes=${full.length}-`, 'bytes=99999999999999999999-', 'bytes=--1', 'bytes= -', '=', 'bytes', `bytes=0-${'9'.repeat(300)}`, 'bytes=\u00ff-']) {
      const r = await raw(server, new URL(rec.urls.mp4).pathname, { Range: range.replace(/[^\x20-\x7e]/g, '?') });
      assert.equal(r.status, 416, range);
      assert.equal(r.headers['content-range'], `bytes */${full.length}`);
    }
    const other = await raw(server, new URL(rec.urls.mp4).pathname, { Range: 'lines=0-5' });
    assert.equal(other.status, 200);
    assert.equal(other.body.length, full.length);
    const one = await raw(server, new URL(rec.urls.mp4).pathname, { Range: 'bytes=0-0' });
    assert.equal(one.status, 206);
    assert.deepEqual(one.body, full.subarray(0, 1));
    // Inside the download's own header (init + sidx), and across into the file.
    const across = await raw(server, new URL(rec.urls.mp4).pathname, { Range: 'bytes=1100-1400' });
    assert.equal(across.status, 206);
    assert.deepEqual(across.body, full.subarray(1100, 1401));
    const frag = new URL(rec.urls.playlist).pathname.replace('index.m3u8', 'fragments.mp4');
    const fragOne = await raw(server, frag, { Range: `bytes=0-7` });
    assert.equal(fragOne.status, 206);
    assert.equal(fragOne.body.toString('latin1', 4, 8), 'ftyp');
    assert.equal((await raw(server, frag, { Range: `bytes=${rec.bytes}-` })).status, 416);
  });

  it('a download cut midway leaves the server serving', async () => {
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: server.httpPort, path: new URL(rec.urls.mp4).pathname }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => resolve());
      });
    }
    assert.equal((await fetch(rec.urls.mp4)).status, 200);
  });

  it('delete needs the operator: 401 without or with a wrong token, 403 from another origin, 405 for other methods', async () => {
    const url = `${server.http}/api/recordings/${rec.id}`;
    assert.equal((await fetch(url, { method: 'DELETE' })).status, 401);
    assert.equal((await fetch(url, { method: 'DELETE', headers: { Authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
    assert.equal((await fetch(url, { method: 'DELETE', headers: { Authorization: 'Basic abc' } })).status, 401);
    assert.equal((await fetch(url, { method: 'DELETE', headers: { ...operatorHeaders(), Origin: 'http://evil.example' } })).status, 403);
    for (const method of ['POST', 'PUT', 'PATCH']) assert.equal((await fetch(url, { method, headers: operatorHeaders(), body: '{}' })).status, 405, method);
    assert.equal((await fetch(`${server.http}/api/streams/${streamId}/recordings`, { method: 'DELETE', headers: operatorHeaders() })).status, 405);
    assert.equal((await fetch(url)).status, 200, 'still there');
    assert.equal((await fetch(`${server.http}/api/recordings/0000000000000000`, { method: 'DELETE', headers: operatorHeaders() })).status, 404);
    assert.equal((await fetch(url, { method: 'DELETE', headers: operatorHeaders() })).status, 204);
    assert.ok(!existsSync(path.join(server.dataDir, 'recordings', `${rec.id}.mp4`)), 'its file is gone');
    assert.equal((await fetch(url, { method: 'DELETE', headers: operatorHeaders() })).status, 404);
  });
});

describe('recordings: retention', () => {
  it('RECORD_MAX_BYTES deletes the oldest first; RECORD_RETENTION_DAYS the old ones', async () => {
    const server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '0', RECORD_MAX_BYTES: '150000', RECORD_RETENTION_DAYS: '1' });
    try {
      const s = await server.createStream('quota');
      const [first] = await broadcast(server, s.key, s.id, 3, 1);
      assert.ok(first.bytes > 75000 && first.bytes < 150000, `a 3 s recording is ${first.bytes} bytes`);
      const l = await broadcast(server, s.key, s.id, 3, 1);
      await server.recording.settled();
      const after = await list(server, s.id);
      assert.equal(after.length, 1, 'the oldest went to stay under the quota');
      assert.notEqual(after[0].id, first.id);
      assert.equal(after[0].id, l[0].id);
      assert.ok(!existsSync(path.join(server.dataDir, 'recordings', `${first.id}.mp4`)));
      // Two days old: gone at the next pass.
      server.recording.store.db.prepare('UPDATE recordings SET started_at = ? WHERE id = ?').run(Date.now() - 2 * 86_400_000, after[0].id);
      server.recording.sweep();
      await server.recording.settled();
      assert.equal((await list(server, s.id)).length, 0);
    } finally {
      await server.stop();
    }
  });
});
