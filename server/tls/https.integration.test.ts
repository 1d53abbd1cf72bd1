/**
 * HTTPS on PORT with a test CA's certificate (real openssl, real TLS sockets on loopback): pages' API, /healthz,
 * LL-HLS (the front door over TLS), certificate reload without a restart (file watcher; SIGHUP in a real server
 * process), a bad certificate at start and at reload, hostile TLS clients, and the HTTP_REDIRECT_PORT.
 */
import assert from 'node:assert/strict';
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { startServerProcess } from '../hostile/server-process';
import { makeServerCert, makeTestCa, type TestCa, type TestCert } from '../testing/certs';
import { operatorHeaders, publishTestStream, startTestServer, waitFor, type TestServer } from '../testing/harness';
import { httpsRequest } from '../testing/https-client';
import { RawHttp } from '../testing/raw-http';

let dir: string;
let ca: TestCa;
let first: TestCert;
let second: TestCert;
const fp = (c: TestCert) => new X509Certificate(c.cert).fingerprint256;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'golive-tls-'));
  ca = await makeTestCa(dir);
  first = await makeServerCert(ca, 'first');
  second = await makeServerCert(ca, 'second');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Live files the server reads (TLS_CERT/TLS_KEY), replaced the way a renewal does: write aside, rename over. */
function install(where: string, c: TestCert): void {
  copyFileSync(c.certFile, `${where}/cert.pem.tmp`);
  copyFileSync(c.keyFile, `${where}/key.pem.tmp`);
  renameSync(`${where}/key.pem.tmp`, `${where}/key.pem`);
  renameSync(`${where}/cert.pem.tmp`, `${where}/cert.pem`);
}

async function liveDir(name: string, c: TestCert): Promise<{ where: string; env: Record<string, string> }> {
  const where = await mkdtemp(path.join(dir, `${name}-`));
  install(where, c);
  return { where, env: { TLS_CERT: `${where}/cert.pem`, TLS_KEY: `${where}/key.pem` } };
}

/** Raw bytes to a port (RawHttp); resolves with everything the server sent once it closes the connection. */
function rawConnection(port: number, send?: Buffer | string): { closed: Promise<string>; socket: net.Socket } {
  const r = new RawHttp(port);
  if (send !== undefined) r.socket.write(send);
  return { socket: r.socket, closed: r.until('closed', (x) => x.closed, 30_000).then(() => r.data) };
}

describe('HTTPS on PORT', () => {
  let server: TestServer;
  let base: string;
  let live: { where: string; env: Record<string, string> };

  before(async () => {
    live = await liveDir('https', first);
    server = await startTestServer({ ...live.env, HTTP_HEAD_TIMEOUT_SECONDS: '1', HTTP_MAX_CONNECTIONS_PER_ADDRESS: '6' });
    base = `https://127.0.0.1:${server.httpPort}`;
  });
  after(async () => {
    await server?.stop();
  });

  test('serves /healthz and the API over TLS with the configured certificate; URLs it gives are https', async () => {
    const health = await httpsRequest(`${base}/healthz`, { ca: ca.ca });
    assert.equal(health.status, 200, health.body);
    assert.equal(health.fingerprint, fp(first));
    const created = await httpsRequest(`${base}/api/streams`, { ca: ca.ca, method: 'POST', headers: operatorHeaders(), body: '{"title":"tls"}' });
    assert.equal(created.status, 201, created.body);
    const stream = JSON.parse(created.body) as { id: string; urls: Record<string, string> };
    assert.equal(stream.urls.watch, `${base}/watch/${stream.id}`);
    assert.match(created.headers['set-cookie']?.toString() ?? 'none', /none/, 'a Bearer request sets no cookie');
    const session = await httpsRequest(`${base}/api/session`, { ca: ca.ca, method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: operatorHeaders().Authorization.slice(7) }) });
    assert.equal(session.status, 204, session.body);
    assert.match(String(session.headers['set-cookie']), /;\s*Secure/i, 'the session cookie is Secure over our own TLS');
  });

  test('LL-HLS over TLS: the playlist of a live stream (front door on the TLS socket) and 404 for an unknown one', async () => {
    const created = JSON.parse((await httpsRequest(`${base}/api/streams`, { ca: ca.ca, method: 'POST', headers: operatorHeaders(), body: '{}' })).body) as { id: string; key: string };
    const pub = publishTestStream(`${server.rtmpUrl}/${created.key}`, { seconds: 30 });
    try {
      const playlist = await waitFor('playlist over https', async () => {
        const r = await httpsRequest(`${base}/hls/${created.id}/index.m3u8`, { ca: ca.ca });
        return r.status === 200 && r.body.includes('#EXT-X-PART:') ? r : null;
      }, 30000, 250);
      assert.match(playlist.body, /^#EXTM3U/);
      const requestsBefore = server.front.counts.requests;
      const missing = await httpsRequest(`${base}/hls/nope/index.m3u8`, { ca: ca.ca });
      assert.equal(missing.status, 404);
      assert.ok(server.front.counts.requests > requestsBefore, 'answered by the front door');
    } finally {
      pub.child.kill('SIGKILL');
    }
  });

  test('hostile: plain HTTP and garbage on the TLS port are closed; the server goes on', async () => {
    const plain = rawConnection(server.httpPort, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const garbage = rawConnection(server.httpPort, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff)));
    const badRecord = rawConnection(server.httpPort, Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00]));
    for (const c of [plain, garbage, badRecord]) {
      const got = await c.closed;
      assert.ok(!got.includes('HTTP/1.1 200'), 'no plain HTTP answer');
    }
    assert.equal((await httpsRequest(`${base}/healthz`, { ca: ca.ca })).status, 200);
  });

  test('hostile: stalled handshakes are closed at the head timeout and capped per address before the handshake', async () => {
    // Six stalled TCP connections (none sends a ClientHello, one sends half of one): the address's cap.
    const stalled = Array.from({ length: 5 }, () => rawConnection(server.httpPort));
    stalled.push(rawConnection(server.httpPort, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])));
    await waitFor('six connections open', () => stalled.every((s) => s.socket.readyState === 'open'), 5000, 20);
    await new Promise((r) => setTimeout(r, 300));
    // A seventh is closed at accept, before any TLS byte.
    const seventh = tls.connect({ port: server.httpPort, host: '127.0.0.1', ca: ca.ca });
    const seventhErr = await new Promise<string>((resolve) => {
      seventh.once('secureConnect', () => resolve('connected'));
      seventh.once('error', (e) => resolve(e.message));
    });
    seventh.destroy();
    assert.notEqual(seventhErr, 'connected', 'over the per-address cap before the handshake');
    // The stalled ones are cut by the handshake deadline (HTTP_HEAD_TIMEOUT_SECONDS=1), not kept forever.
    await Promise.all(stalled.map((s) => s.closed));
    const ok = await waitFor('a real client after the stalls', async () => (await httpsRequest(`${base}/healthz`, { ca: ca.ca })).status === 200, 10000, 200);
    assert.ok(ok);
  });

  test('a TLS client that completes the handshake and sends nothing is closed (idle timeout)', async () => {
    const s = tls.connect({ port: server.httpPort, host: '127.0.0.1', ca: ca.ca });
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.once('secureConnect', () => resolve()));
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
  });

  test('certificate replaced on disk: new connections get the new one without a restart; a bad one keeps the old', async () => {
    install(live.where, second);
    await waitFor('the new certificate served', async () => (await httpsRequest(`${base}/healthz`, { ca: ca.ca })).fingerprint === fp(second), 20000, 250);
    assert.equal(server.tls?.counts.reloaded, 1);
    // A broken renewal: garbage certificate, then a key that does not match.
    const refusedBefore = server.tls!.counts.refused;
    writeFileSync(`${live.where}/cert.pem`, '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
    await waitFor('the bad file refused', () => server.tls!.counts.refused > refusedBefore, 20000, 100);
    assert.equal((await httpsRequest(`${base}/healthz`, { ca: ca.ca })).fingerprint, fp(second), 'the old certificate stays');
    copyFileSync(first.certFile, `${live.where}/cert.pem`); // first's cert with second's key
    assert.equal(server.tls!.reload('test'), false, 'a mismatched pair is refused');
    assert.equal((await httpsRequest(`${base}/healthz`, { ca: ca.ca })).fingerprint, fp(second));
    install(live.where, first);
    assert.equal(server.tls!.reload('test'), true);
    assert.equal((await httpsRequest(`${base}/healthz`, { ca: ca.ca })).fingerprint, fp(first));
  });
});

describe('TLS certificate at start', () => {
  test('missing, garbage or mismatched files stop the start with one line naming the file', async () => {
    const live = await liveDir('bad', first);
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ TLS_CERT: `${live.where}/missing.pem`, TLS_KEY: live.env.TLS_KEY }, /^TLS_CERT=.*missing\.pem: cannot read it \(ENOENT\)$/],
      [{ TLS_CERT: live.env.TLS_CERT, TLS_KEY: live.env.TLS_CERT }, /^TLS_KEY=.*: not a PEM private key/],
      [{ TLS_CERT: live.env.TLS_KEY, TLS_KEY: live.env.TLS_KEY }, /^TLS_CERT=.*: not a PEM certificate/],
      [{ TLS_CERT: live.env.TLS_CERT, TLS_KEY: second.keyFile }, /do not go together/],
    ];
    for (const [env, re] of cases) {
      await assert.rejects(startTestServer(env), (err: Error) => err.name === 'StartupError' && re.test(err.message) && !err.message.includes('\n'));
    }
  });

  test('the real process exits 1 with one "startup error" line', async () => {
    const err = await startServerProcess({ TLS_CERT: path.join(dir, 'nope.pem'), TLS_KEY: first.keyFile }, { startTimeoutMs: 30000 }).then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(err, 'the server did not start');
    assert.match(err.message, /server exited 1 during start: .*startup error: TLS_CERT=.*nope\.pem: cannot read it \(ENOENT\)/s);
  });
});

describe('SIGHUP in a real server process', () => {
  test('reloads the certificate; the process keeps running and serving', async () => {
    const live = await liveDir('hup', first);
    const proc = await startServerProcess(live.env);
    try {
      const base = `https://127.0.0.1:${proc.httpPort}`;
      assert.equal((await httpsRequest(`${base}/healthz`, { ca: ca.ca })).fingerprint, fp(first));
      // Written in place (no rename, same inode), then SIGHUP: no waiting for the watcher.
      writeFileSync(`${live.where}/cert.pem`, second.cert);
      writeFileSync(`${live.where}/key.pem`, second.key);
      proc.child.kill('SIGHUP');
      await waitFor('the new certificate after SIGHUP', async () => (await httpsRequest(`${base}/healthz`, { ca: ca.ca })).fingerprint === fp(second), 10000, 100);
      assert.ok(proc.alive(), proc.describeExit());
      assert.match(proc.logTail(), /TLS certificate reloaded \((SIGHUP|the files changed)\)/);
    } finally {
      await proc.stop();
    }
  });
});

describe('HTTP_REDIRECT_PORT', () => {
  let server: TestServer;
  before(async () => {
    const live = await liveDir('redirect', first);
    server = await startTestServer({ ...live.env, HTTP_REDIRECT_PORT: '0', HTTP_HEAD_TIMEOUT_SECONDS: '1' });
  });
  after(async () => {
    await server?.stop();
  });

  async function ask(head: string): Promise<string> {
    const c = rawConnection(server.redirectPort!, head);
    return c.closed;
  }

  test('301 to the same path over https on PORT', async () => {
    const port = server.httpPort;
    const a = await ask('GET /watch/abc?x=1 HTTP/1.1\r\nHost: live.example.com\r\n\r\n');
    assert.match(a, /^HTTP\/1\.1 301 /);
    assert.ok(a.includes(`\r\nLocation: https://live.example.com:${port}/watch/abc?x=1\r\n`), a);
    const b = await ask('GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n');
    assert.ok(b.includes(`\r\nLocation: https://127.0.0.1:${port}/\r\n`), b);
    const c = await ask('HEAD /x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n');
    assert.ok(c.includes(`\r\nLocation: https://[::1]:${port}/x\r\n`), c);
    // Followed, it reaches the HTTPS server.
    const loc = /Location: (\S+)/.exec(b)![1];
    assert.equal((await httpsRequest(loc, { ca: ca.ca })).status, 404);
  });

  test('weird Host headers get 400 and never reach a Location', async () => {
    for (const host of ['evil.com/path', 'user@evil.com', 'a b', '..', '.evil', 'x'.repeat(300), 'evil.com:99999999', '[not-ipv6]', 'a\u0001b']) {
      const a = await ask(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      assert.match(a, /^HTTP\/1\.1 400 /, `Host: ${host} -> ${a.slice(0, 200)}`);
      assert.ok(!/Location:/i.test(a), host);
    }
    assert.match(await ask('GET / HTTP/1.1\r\nHost: a.com\r\nHost: b.com\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(await ask('GET / HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 400 /, 'no Host');
    // A request target that is not a plain path goes to "/".
    const odd = await ask('GET //evil.com/x HTTP/1.1\r\nHost: ok.example\r\n\r\n');
    assert.ok(odd.includes(`Location: https://ok.example:${server.httpPort}/\r\n`), odd);
    const abs = await ask('GET http://evil.com/x HTTP/1.1\r\nHost: ok.example\r\n\r\n');
    assert.ok(abs.includes(`Location: https://ok.example:${server.httpPort}/\r\n`), abs);
    // Garbage instead of HTTP: closed, the server goes on.
    await ask('\x16\x03\x01garbage\r\n\r\n');
    assert.match(await ask('GET / HTTP/1.1\r\nHost: fine.example\r\n\r\n'), /^HTTP\/1\.1 301 /);
  });

  test('a client that never finishes its request head is closed', async () => {
    const c = rawConnection(server.redirectPort!, 'GET / HTTP/1.1\r\nHost: slow');
    const got = await c.closed;
    assert.ok(!got.includes('301'), got);
  });
});
