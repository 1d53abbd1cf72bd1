/**
 * Recording per stream (the stream manager's switch): PATCH /api/streams/<id> {record: true|false|null}, operator
 * only; with real ffmpeg over RTMP, a stream switched off gets no recording while another one records, and the
 * setting is read at the next broadcast.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { operatorHeaders, publishTestStream, startTestServer, waitFor, waitLive, type TestServer } from '../testing/harness';

const JSON_TYPE = { 'Content-Type': 'application/json' };

async function patch(server: TestServer, id: string, body: unknown, headers: Record<string, string> = operatorHeaders()): Promise<Response> {
  return fetch(`${server.http}/api/streams/${id}`, { method: 'PATCH', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

async function recordingsOf(server: TestServer, id: string): Promise<Array<{ id: string; state: string }>> {
  const res = await fetch(`${server.http}/api/streams/${id}/recordings`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { recordings: Array<{ id: string; state: string }> }).recordings;
}

async function managed(server: TestServer, id: string): Promise<{ record: boolean | null; recorded: boolean }> {
  const res = await fetch(`${server.http}/api/streams?all=1`, { headers: operatorHeaders() });
  const { streams } = (await res.json()) as { streams: Array<{ id: string; record: boolean | null; recorded: boolean }> };
  return streams.find((s) => s.id === id)!;
}

/** Publish 5 s on every key at once and wait until each has ended. */
async function broadcast(server: TestServer, streams: Array<{ id: string; key: string }>): Promise<void> {
  const pubs = streams.map((s) => publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 5 }));
  for (const s of streams) await waitLive(server, s.id);
  for (const p of pubs) assert.equal(await p.exited, 0, p.stderr());
  for (const s of streams) {
    await waitFor(`${s.id} ended`, async () => {
      const r = (await (await fetch(`${server.http}/api/streams/${s.id}`)).json()) as { live: boolean };
      return !r.live;
    }, 20000);
  }
}

describe('recording per stream', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '0', RECORD: 'on' });
  });
  after(() => server.stop());

  it('the switch is the operator\'s: 401 without or with a wrong token, 403 from another origin, 400 for garbage', async () => {
    const s = await server.createStream('guarded');
    assert.equal((await patch(server, s.id, { record: false }, JSON_TYPE)).status, 401);
    assert.equal((await patch(server, s.id, { record: false }, operatorHeaders('not-the-token-at-all'))).status, 401);
    assert.equal((await patch(server, s.id, { record: false }, { ...operatorHeaders(), Origin: 'https://evil.example' })).status, 403);
    for (const bad of [{ record: 'off' }, { record: 0 }, { record: {} }, '{"record":', { record: false, extra: 1 }]) {
      const res = await patch(server, s.id, bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      await res.arrayBuffer();
    }
    assert.deepEqual(await managed(server, s.id).then((m) => [m.record, m.recorded]), [null, true], 'nothing changed');
    assert.equal((await patch(server, 'nosuchstream', { record: false })).status, 404);
    // Deleting a recording is the operator's too.
    for (const [headers, status] of [[JSON_TYPE, 401], [operatorHeaders('not-the-token-at-all'), 401], [{ ...operatorHeaders(), Origin: 'https://evil.example' }, 403]] as const) {
      const res = await fetch(`${server.http}/api/recordings/${'a'.repeat(16)}`, { method: 'DELETE', headers });
      assert.equal(res.status, status);
      await res.arrayBuffer();
    }
  });

  it('a stream switched off is not recorded while another one is; the change counts from the next broadcast', async () => {
    const off = await server.createStream('not recorded');
    const on = await server.createStream('recorded');
    const res = await patch(server, off.id, { record: false });
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { record: unknown; recorded: unknown }).record, false);
    assert.deepEqual(await managed(server, off.id).then((m) => [m.record, m.recorded]), [false, false]);
    assert.deepEqual(await managed(server, on.id).then((m) => [m.record, m.recorded]), [null, true]);

    await broadcast(server, [off, on]);
    await waitFor('the recording of the stream that records', async () => (await recordingsOf(server, on.id)).some((r) => r.state === 'ended'), 20000);
    assert.equal((await recordingsOf(server, off.id)).length, 0, 'switched off: no recording');
    assert.equal((await recordingsOf(server, on.id)).length, 1);

    // Back to the default for one, off for the other: the next broadcast follows.
    assert.equal((await patch(server, off.id, { record: null })).status, 200);
    assert.equal((await patch(server, on.id, { record: false })).status, 200);
    await broadcast(server, [off, on]);
    await waitFor('the recording of the stream switched back', async () => (await recordingsOf(server, off.id)).some((r) => r.state === 'ended'), 20000);
    assert.equal((await recordingsOf(server, off.id)).length, 1);
    assert.equal((await recordingsOf(server, on.id)).length, 1, 'switched off: still only the first one');
    // Stored in the database.
    assert.equal(server.registry.db.prepare('SELECT record FROM streams WHERE id = ?').pluck().get(on.id), 0);
    assert.equal(server.registry.db.prepare('SELECT record FROM streams WHERE id = ?').pluck().get(off.id), null);
  });
});

describe('recording per stream with RECORD=off', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '0', RECORD: 'off' });
  });
  after(() => server.stop());

  it('a stream switched on is recorded, the others are not', async () => {
    const yes = await server.createStream('switched on');
    const no = await server.createStream('default');
    assert.equal((await patch(server, yes.id, { record: true })).status, 200);
    assert.deepEqual(await managed(server, no.id).then((m) => [m.record, m.recorded]), [null, false]);
    await broadcast(server, [yes, no]);
    await waitFor('the recording of the stream switched on', async () => (await recordingsOf(server, yes.id)).some((r) => r.state === 'ended'), 20000);
    assert.equal((await recordingsOf(server, no.id)).length, 0);
  });
});
