/**
 * The HTTP front door on real loopback sockets: requests it answers itself, connections it hands to Node's server,
 * pipelining, HEAD, Connection: close, timeouts, a client that does not read.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RawHttp } from '../testing/raw-http';
import { HttpFront, parseHead, type FastReply } from './front';
import { TrustProxy } from './trust-proxy';

const BODY = Buffer.from('part-bytes');
const HEAD = ['Content-Type', 'video/mp4', 'Content-Length', String(BODY.length), 'Cache-Control', 'immutable'];

interface Setup {
  server: http.Server;
  front: HttpFront;
  port: number;
  /** Replies held by the route for /hls/held (answered by the test). */
  held: FastReply[];
  nodeRequests: string[];
}

async function setup(opts: { idleTimeoutMs?: number; big?: Buffer; trust?: TrustProxy; maxConnectionsPerAddress?: number } = {}): Promise<Setup> {
  const nodeRequests: string[] = [];
  const server = http.createServer((req, res) => {
    nodeRequests.push(`${req.method} ${req.url}`);
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => res.end(`node:${req.method}:${req.url}:${body}`));
  });
  const held: FastReply[] = [];
  const bigHead = opts.big ? ['Content-Length', String(opts.big.length)] : [];
  const front = new HttpFront({
    http: server,
    prefix: '/hls/',
    idleTimeoutMs: opts.idleTimeoutMs,
    trust: opts.trust,
    maxConnectionsPerAddress: opts.maxConnectionsPerAddress,
    route: (method, target, reply) => {
      const q = target.indexOf('?');
      const pathname = q < 0 ? target : target.slice(0, q);
      const search = q < 0 ? '' : target.slice(q);
      if (pathname === '/hls/not-mine') return false;
      if (pathname === '/hls/throw') throw new Error('route failed');
      if (pathname === '/hls/held') {
        held.push(reply);
        return true;
      }
      if (pathname === '/hls/big' && opts.big) {
        reply.send(200, bigHead, opts.big, method === 'HEAD');
        return true;
      }
      if (pathname === '/hls/echo') {
        const text = Buffer.from(`${method} ${search} ${reply.viewerKey()} ${reply.address()}`);
        reply.send(200, ['Content-Length', String(text.length)], text, method === 'HEAD');
        return true;
      }
      reply.send(200, HEAD, BODY, method === 'HEAD');
      return true;
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, front, port: (server.address() as AddressInfo).port, held, nodeRequests };
}

async function teardown(s: Setup): Promise<void> {
  s.front.closeAll();
  s.server.closeAllConnections();
  await new Promise((r) => s.server.close(r));
}

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: x\r\nUser-Agent: test-agent\r\n${extra}\r\n`;

describe('parseHead', () => {
  it('reads the request line and the headers that matter', () => {
    const h = parseHead('GET /hls/a/index.m3u8?_HLS_msn=3 HTTP/1.1\r\nHost: a\r\nUser-Agent:  UA 1 \r\nConnection: keep-alive, Close');
    assert.deepEqual(h, { method: 'GET', target: '/hls/a/index.m3u8?_HLS_msn=3', host: true, close: true, unusual: false, userAgent: 'UA 1', forwardedFor: '' });
    assert.equal(parseHead('GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2')?.forwardedFor, '1.1.1.1,2.2.2.2');
  });
  it('refuses other request lines and flags what Node must handle', () => {
    assert.equal(parseHead('GET /hls/a HTTP/1.0\r\nHost: a'), null);
    assert.equal(parseHead('GET  /hls/a HTTP/1.1\r\nHost: a'), null);
    assert.equal(parseHead('GET /hls/a'), null);
    for (const header of ['Content-Length: 5', 'Transfer-Encoding: chunked', 'Upgrade: websocket', 'Connection: Upgrade', 'Expect: 100-continue', ' folded', 'no colon', 'Bad Name: x']) {
      assert.equal(parseHead(`GET /hls/a HTTP/1.1\r\nHost: a\r\n${header}`)?.unusual, true, header);
    }
    assert.equal(parseHead('GET /hls/a HTTP/1.1\r\nHost: a\r\nContent-Length: 0')?.unusual, false);
    assert.equal(parseHead('GET /hls/a HTTP/1.1\r\nUser-Agent: a')?.host, false);
  });
});

describe('HttpFront', () => {
  let s: Setup;
  before(async () => {
    s = await setup();
  });
  after(() => teardown(s));

  it('answers fast requests itself, keep-alive, with Date and the route headers', async () => {
    const c = new RawHttp(s.port).send(get('/hls/a/part.m4s'));
    await c.until('one response', (r) => r.answers().length === 1);
    c.send(get('/hls/echo?x=1'));
    await c.until('two responses', (r) => r.answers().length === 2);
    const [a, b] = c.answers();
    assert.equal(a.status, 200);
    assert.equal(a.body, BODY.toString());
    assert.equal(a.headers.get('content-type'), 'video/mp4');
    assert.equal(a.headers.get('cache-control'), 'immutable');
    assert.ok(Math.abs(Date.parse(a.headers.get('date') ?? '') - Date.now()) < 5000, 'a Date header');
    assert.match(c.data, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(b.body, 'GET ?x=1 127.0.0.1|test-agent 127.0.0.1');
    assert.deepEqual(s.nodeRequests, [], 'Node saw none of them');
    c.close();
  });

  it('hands a connection to Node at its first request that is not a fast one, bytes intact', async () => {
    const before = s.front.counts.handedOff;
    const c = new RawHttp(s.port).send(get('/hls/a/part.m4s'));
    await c.until('one response', (r) => r.answers().length === 1);
    c.send('POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
    await c.until('two responses', (r) => r.answers().length === 2);
    c.send(get('/hls/after'));
    await c.until('three responses', (r) => r.answers().length === 3);
    const r = c.answers();
    assert.equal(r[1].body, 'node:POST:/api/x:hello');
    assert.equal(r[2].body, 'node:GET:/hls/after:', 'once handed off, the connection stays with Node');
    assert.equal(s.front.counts.handedOff, before + 1);
    c.close();
  });

  it('hands off what it does not fully understand: HTTP/1.0, bodies, upgrades, no Host, other methods, a route that declines', async () => {
    const cases = [
      'GET /hls/a HTTP/1.0\r\nHost: x\r\n\r\n',
      'GET /hls/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc',
      'GET /hls/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      'DELETE /hls/a HTTP/1.1\r\nHost: x\r\n\r\n',
      get('/hls/not-mine'),
      get('/other'),
    ];
    for (const text of cases) {
      const c = new RawHttp(s.port).send(text);
      await c.until(`Node's answer to ${JSON.stringify(text)}`, (r) => r.data.includes('node:'));
      assert.match(c.data, /node:(GET|DELETE):\/(hls|other)/, text);
      c.close();
    }
    const noHost = new RawHttp(s.port).send('GET /hls/a HTTP/1.1\r\n\r\n');
    await noHost.until('400 from Node', (r) => r.data.startsWith('HTTP/1.1 400'));
    noHost.close();
  });

  it('answers pipelined requests in order, a held one first', async () => {
    const c = new RawHttp(s.port).send(get('/hls/held') + get('/hls/echo?2') + get('/hls/echo?3'));
    await c.until('the held request', () => s.held.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.answers().length, 0, 'nothing before the held answer');
    const held = s.held.pop()!;
    held.send(200, ['Content-Length', '4'], Buffer.from('held'), false);
    await c.until('three responses', (r) => r.answers().length === 3);
    assert.deepEqual(
      c.answers().map((r) => r.body),
      ['held', 'GET ?2 127.0.0.1|test-agent 127.0.0.1', 'GET ?3 127.0.0.1|test-agent 127.0.0.1'],
    );
    c.close();
  });

  it('HEAD: headers with the Content-Length of the body, no body; OPTIONS on the fast path', async () => {
    const c = new RawHttp(s.port).send(`HEAD /hls/a/part.m4s HTTP/1.1\r\nHost: x\r\n\r\n`);
    await c.until('the HEAD answer', (r) => r.answers(true).length === 1);
    c.send(get('/hls/echo'));
    await c.until('the next answer', (r) => r.data.includes('GET  127.0.0.1|'));
    const head = c.answers(true)[0];
    assert.equal(head.headers.get('content-length'), String(BODY.length));
    assert.ok(!c.data.includes(BODY.toString()), 'no body after HEAD');
    c.close();
  });

  it('Connection: close: the answer says so, then the connection closes', async () => {
    const c = new RawHttp(s.port).send(get('/hls/a/part.m4s', 'Connection: close\r\n'));
    await c.until('close', (r) => r.closed);
    assert.equal(c.answers().length, 1);
    assert.equal(c.answers()[0].headers.get('connection'), 'close');
  });

  it('a client that half-closes gets its answers (held and pipelined), then the connection closes', async () => {
    const c = new RawHttp(s.port).send(get('/hls/held') + get('/hls/echo?after'));
    await c.until('the held request', () => s.held.length === 1);
    c.socket.end(); // FIN: nothing more from the client
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.closed, false, 'still open for the answers');
    s.held.pop()!.send(200, ['Content-Length', '4'], Buffer.from('held'), false);
    await c.until('closed after both answers', (r) => r.closed);
    assert.deepEqual(
      c.answers().map((r) => r.body),
      ['held', 'GET ?after 127.0.0.1|test-agent 127.0.0.1'],
    );
    assert.equal(c.answers()[1].headers.get('connection'), 'close');
    const idle = new RawHttp(s.port);
    await new Promise((r) => idle.socket.once('connect', r));
    idle.socket.end(get('/hls/a').slice(0, 10)); // an incomplete request, then FIN
    await idle.until('closed without an answer', (r) => r.closed);
    assert.equal(idle.data, '');
  });

  it('a head larger than 16 KiB goes to Node (431); a route that throws closes only its connection', async () => {
    const big = new RawHttp(s.port).send(`GET /hls/a HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    await big.until('431', (r) => r.data.startsWith('HTTP/1.1 431'));
    big.close();
    const bad = new RawHttp(s.port).send(get('/hls/throw'));
    await bad.until('closed', (r) => r.closed);
    const good = new RawHttp(s.port).send(get('/hls/a/part.m4s'));
    await good.until('an answer', (r) => r.answers().length === 1);
    good.close();
  });
});

describe('HttpFront robustness', () => {
  it('mutated requests (random bytes flipped, cut, repeated) never hurt the server or another connection', async () => {
    const s = await setup({ idleTimeoutMs: 300 });
    try {
      const valid = Buffer.from(get('/hls/a/part.m4s') + get('/hls/held') + get('/hls/echo?x=1', 'Connection: close\r\n'));
      let seed = 12345;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const clients: RawHttp[] = [];
      for (let i = 0; i < 200; i++) {
        const b = Buffer.from(valid);
        for (let k = rand(8); k >= 0; k--) b[rand(b.length)] = rand(256);
        const cut = rand(3) === 0 ? b.subarray(0, rand(b.length)) : b;
        const c = new RawHttp(s.port);
        c.send(cut.toString('latin1'));
        clients.push(c);
      }
      await new Promise((r) => setTimeout(r, 300));
      for (const h of s.held.splice(0)) if (!h.gone) h.send(200, ['Content-Length', '1'], Buffer.from('h'), false);
      const good = new RawHttp(s.port).send(get('/hls/a/part.m4s'));
      await good.until('a clean request is still answered', (r) => r.answers().length === 1);
      assert.equal(good.answers()[0].body, BODY.toString());
      for (const c of clients) c.close();
      good.close();
    } finally {
      await teardown(s);
    }
  });
});

describe('HttpFront limits', () => {
  it('closes an idle connection, not one whose request is held', async () => {
    const s = await setup({ idleTimeoutMs: 200 });
    try {
      const idle = new RawHttp(s.port).send(get('/hls/a'));
      const heldC = new RawHttp(s.port).send(get('/hls/held'));
      await idle.until('idle closed', (r) => r.closed, 3000);
      assert.equal(heldC.closed, false, 'a held request keeps its connection');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(heldC.closed, false);
      s.held.pop()!.send(200, ['Content-Length', '1'], Buffer.from('x'), false);
      await heldC.until('answer', (r) => r.answers().length === 1);
      await heldC.until('then idle closed', (r) => r.closed, 3000);
    } finally {
      await teardown(s);
    }
  });

  it('stops reading from a client that does not take its answers', async () => {
    const s = await setup({ big: Buffer.alloc(1 << 20, 1) });
    try {
      const c = net.connect(s.port, '127.0.0.1');
      c.on('error', () => undefined);
      c.pause(); // reads nothing
      await new Promise((r) => c.once('connect', r));
      const before = s.front.counts.requests;
      const many = get('/hls/big').repeat(400); // 400 MiB of answers if they were all written
      c.write(many);
      await new Promise((r) => setTimeout(r, 500));
      const answered = s.front.counts.requests - before;
      assert.ok(answered >= 1 && answered < 40, `answered ${answered} of 400 while the client read nothing`);
      c.destroy();
    } finally {
      await teardown(s);
    }
  });
});

describe('HttpFront with TRUST_PROXY', () => {
  it('an untrusted peer is itself, whatever X-Forwarded-For says, and is held to its connection cap', async () => {
    const s = await setup({ trust: TrustProxy.parse('10.0.0.0/8'), maxConnectionsPerAddress: 1 });
    try {
      const c = new RawHttp(s.port).send(get('/hls/echo', 'X-Forwarded-For: 198.51.100.1\r\n'));
      await c.until('an answer', (r) => r.answers().length === 1);
      assert.equal(c.answers()[0].body, 'GET  127.0.0.1|test-agent 127.0.0.1');
      const second = new RawHttp(s.port).send(get('/hls/echo', 'X-Forwarded-For: 198.51.100.2\r\n'));
      await second.until('a refusal', (r) => r.answers().length === 1);
      assert.equal(second.answers()[0].status, 503);
      c.socket.destroy();
    } finally {
      await teardown(s);
    }
  });

  it('a trusted peer: each request is its forwarded client, and the proxy is not held to the per-address cap', async () => {
    const s = await setup({ trust: TrustProxy.parse('loopback'), maxConnectionsPerAddress: 1 });
    try {
      const c = new RawHttp(s.port).send(get('/hls/echo', 'X-Forwarded-For: 6.6.6.6, 198.51.100.1\r\n'));
      await c.until('one', (r) => r.answers().length === 1);
      c.send(get('/hls/echo', 'X-Forwarded-For: 198.51.100.2\r\n'));
      await c.until('two', (r) => r.answers().length === 2);
      c.send(get('/hls/echo', 'X-Forwarded-For: garbage\r\n'));
      await c.until('three', (r) => r.answers().length === 3);
      c.send(get('/hls/echo'));
      await c.until('four', (r) => r.answers().length === 4);
      assert.deepEqual(
        c.answers().map((a) => a.body),
        ['GET  198.51.100.1|test-agent 198.51.100.1', 'GET  198.51.100.2|test-agent 198.51.100.2', 'GET  127.0.0.1|test-agent 127.0.0.1', 'GET  127.0.0.1|test-agent 127.0.0.1'],
      );
      const second = new RawHttp(s.port).send(get('/hls/echo', 'X-Forwarded-For: 198.51.100.3\r\n'));
      await second.until('an answer', (r) => r.answers().length === 1);
      assert.equal(second.answers()[0].status, 200);
      c.socket.destroy();
      second.socket.destroy();
    } finally {
      await teardown(s);
    }
  });
});
