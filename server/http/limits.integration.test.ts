/**
 * Hostile HTTP clients against the real server on loopback: malformed request targets (plain and upgrade), held
 * LL-HLS requests beyond the limits, connections per address, slow request heads.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../testing/harness';

/** A raw client: sends bytes, collects what the server writes, notes when it closes. */
class Raw {
  readonly socket: net.Socket;
  data = '';
  closed = false;
  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => (this.data += d));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
  }
  send(text: string): this {
    this.socket.write(text);
    return this;
  }
  async until(what: string, test: (r: Raw) => boolean, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!test(this)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.data.slice(0, 300))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  /** Status codes of the responses received so far (bodies skipped by Content-Length). */
  statuses(): number[] {
    const out: number[] = [];
    let at = 0;
    for (;;) {
      const end = this.data.indexOf('\r\n\r\n', at);
      if (end < 0) return out;
      const head = this.data.slice(at, end);
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (end + 4 + len > this.data.length) return out;
      out.push(Number(head.split(' ')[1]));
      at = end + 4 + len;
    }
  }
  close(): void {
    this.socket.destroy();
  }
}

describe('malformed request targets', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  test('an upgrade to a target a URL parser rejects gets 400 and a closed socket, and nothing is thrown', async () => {
    for (const target of ['//[', '//a:99999/ingest', 'http://[/', '//%']) {
      const c = new Raw(server.httpPort).send(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
      await c.until(`the answer to an upgrade to ${target}`, (r) => r.closed);
      assert.match(c.data, /^HTTP\/1\.1 400 /, target);
    }
    // The server still takes requests.
    assert.equal((await fetch(`${server.http}/healthz`)).status, 200);
  });

  test('a plain request to such a target gets 400, not 500', async () => {
    const c = new Raw(server.httpPort).send('GET //[ HTTP/1.1\r\nHost: x\r\n\r\nGET //a:99999 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await c.until('two answers', (r) => r.statuses().length === 2);
    assert.deepEqual(c.statuses(), [400, 400]);
    c.close();
  });
});
