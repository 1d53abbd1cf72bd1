/**
 * Hostile HTTP clients against the real server on loopback: malformed request targets (plain and upgrade), held
 * LL-HLS requests beyond the limits, connections per address, slow request heads.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RawHttp } from '../testing/raw-http';
import { publishTestStream, startTestServer, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';

describe('malformed request targets', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  test('an upgrade to a target a URL parser rejects gets 400 and a closed socket, and nothing is thrown', async () => {
    for (const target of ['//[', '//a:99999/ingest', 'http://[/', '//%']) {
      const c = new RawHttp(server.httpPort).send(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
      await c.until(`the answer to an upgrade to ${target}`, (r) => r.closed);
      assert.match(c.data, /^HTTP\/1\.1 400 /, target);
    }
    // The server still takes requests.
    assert.equal((await fetch(`${server.http}/healthz`)).status, 200);
  });

  test('a handler that throws in the upgrade path: the client gets 500 and a closed socket, the process goes on', async () => {
    const original = server.ingest.handleUpgrade;
    server.ingest.handleUpgrade = () => {
      throw new Error('handler failed');
    };
    try {
      const c = new RawHttp(server.httpPort).send('GET /ingest HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      await c.until('the answer', (r) => r.closed);
      assert.match(c.data, /^HTTP\/1\.1 500 /);
    } finally {
      server.ingest.handleUpgrade = original;
    }
    assert.equal((await fetch(`${server.http}/healthz`)).status, 200);
  });

  test('a plain request to such a target gets 400, not 500', async () => {
    const c = new RawHttp(server.httpPort).send('GET //[ HTTP/1.1\r\nHost: x\r\n\r\nGET //a:99999 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await c.until('two answers', (r) => r.statuses().length === 2);
    assert.deepEqual(c.statuses(), [400, 400]);
    c.close();
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('connections per client address and in all', () => {
  test('beyond HTTP_MAX_CONNECTIONS_PER_ADDRESS a new connection gets 503 with Retry-After and is closed; a closed one frees its place', async () => {
    const server = await startTestServer({ HTTP_MAX_CONNECTIONS_PER_ADDRESS: '5' });
    const open: RawHttp[] = [];
    try {
      // Five held open: two in the front door (idle), three on Node's server (a keep-alive request answered there).
      for (let i = 0; i < 5; i++) {
        const c = new RawHttp(server.httpPort);
        if (i >= 2) {
          c.send('GET /api/time HTTP/1.1\r\nHost: x\r\n\r\n');
          await c.until('an answer', (r) => r.statuses().length === 1);
        }
        open.push(c);
      }
      await waitFor('five connections counted', () => server.front.connectionsFrom('127.0.0.1') === 5, 5000, 10);
      const extra = new RawHttp(server.httpPort).send('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await extra.until('the refusal', (r) => r.closed);
      assert.match(extra.data, /^HTTP\/1\.1 503 /);
      assert.match(extra.data, /\r\nRetry-After: 5\r\n/);
      assert.deepEqual(open.map((c) => c.closed), [false, false, false, false, false], 'the others stay open');
      // One goes: a new connection is taken again.
      open.shift()!.close();
      await waitFor('four connections counted', () => server.front.connectionsFrom('127.0.0.1') === 4, 5000, 10);
      const again = new RawHttp(server.httpPort).send('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await again.until('an answer', (r) => r.closed);
      assert.deepEqual(again.statuses(), [200]);
    } finally {
      for (const c of open) c.close();
      await server.stop();
    }
  });

  test('beyond HTTP_MAX_CONNECTIONS a new connection is closed at once', async () => {
    const server = await startTestServer({ HTTP_MAX_CONNECTIONS: '3' });
    const open: RawHttp[] = [];
    try {
      for (let i = 0; i < 3; i++) open.push(new RawHttp(server.httpPort));
      await waitFor('three connections counted', () => server.front.connectionsFrom('127.0.0.1') === 3, 5000, 10);
      const extra = new RawHttp(server.httpPort).send('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await extra.until('the close', (r) => r.closed, 5000);
      assert.equal(extra.data, '');
      assert.equal(server.front.connectionsFrom('127.0.0.1'), 3);
    } finally {
      for (const c of open) c.close();
      await server.stop();
    }
  });
});

describe('slow request heads (slowloris)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ HTTP_HEAD_TIMEOUT_SECONDS: '2' });
  });
  after(() => server.stop());

  /** Send `head` a byte every 400 ms (never silent long enough for an idle timeout) until the server closes. */
  async function trickle(c: RawHttp, head: string, limitMs: number): Promise<number> {
    const started = Date.now();
    for (let i = 0; !c.closed && Date.now() - started < limitMs; i++) {
      c.send(head[i % head.length]);
      await sleep(400);
    }
    return Date.now() - started;
  }

  test('the front door closes a connection whose head takes longer than HTTP_HEAD_TIMEOUT_SECONDS', async () => {
    const c = new RawHttp(server.httpPort);
    const ms = await trickle(c, 'GET /hls/abc/index.m3u8 HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 9000);
    assert.ok(c.closed, `still open after ${ms} ms`);
    c.close();
  });

  test("Node's server (a connection handed over) closes a connection whose next head takes that long too", async () => {
    const c = new RawHttp(server.httpPort).send('GET /api/time HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until('the first answer', (r) => r.statuses().length === 1);
    const ms = await trickle(c, 'GET /api/time HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 9000);
    assert.ok(c.closed, `still open after ${ms} ms`);
    c.close();
  });
});

describe('held LL-HLS requests per client address, on the front door', () => {
  let server: TestServer;
  let pub: Proc;
  let id: string;
  before(async () => {
    server = await startTestServer({ HLS_MAX_HELD_PER_ADDRESS: '2', HLS_SEGMENT_TARGET: '4' });
    const s = await server.createStream('held');
    id = s.id;
    pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { fps: 25, gop: 25 });
    await waitLive(server, id);
    assert.equal((await fetch(`${server.http}/hls/${id}/index.m3u8`)).status, 200);
    await waitFor('a part', () => (server.hls.segmenter(id)?.segments[0]?.parts.length ?? 0) > 0, 20000);
  });
  after(async () => {
    await pub.kill('SIGKILL');
    await server.stop();
  });

  test('a third blocking reload from the same address gets 429 with Retry-After at once', async () => {
    // Two segments ahead: held for seconds (segments of 4 s).
    const ahead = server.hls.segmenter(id)!.nextPart().msn + 2;
    const reload = `GET /hls/${id}/index.m3u8?_HLS_msn=${ahead} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const handedOff = server.front.counts.handedOff;
    const held = [new RawHttp(server.httpPort).send(reload), new RawHttp(server.httpPort).send(reload)];
    await waitFor('two held', () => server.hls.held.ofAddress('127.0.0.1') === 2, 5000, 10);
    const third = new RawHttp(server.httpPort).send(reload);
    await third.until('the refusal', (r) => r.statuses().length === 1, 3000);
    assert.deepEqual(third.statuses(), [429]);
    assert.match(third.data, /\r\nRetry-After: 1\r\n/);
    assert.equal(server.front.counts.handedOff, handedOff, 'answered by the front door');
    assert.deepEqual(held.map((c) => c.statuses().length), [0, 0], 'the first two are still held');
    for (const c of [...held, third]) c.close();
  });
});
