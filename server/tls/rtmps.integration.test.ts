/**
 * RTMPS ingest (RTMPS_PORT, certificate of TLS_CERT/TLS_KEY): real ffmpeg publishes over rtmps://, real ffprobe
 * plays over rtmps:// (and over plain RTMP: the same hub); the API gives the rtmps URLs; hostile clients (plain RTMP
 * on the TLS port, stalled handshakes, more connections than the per-address cap) are closed and bounded.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { makeServerCert, makeTestCa, type TestCa } from '../testing/certs';
import { operatorHeaders, probe, publishTestStream, startTestServer, waitFor, type TestServer } from '../testing/harness';
import { httpsRequest } from '../testing/https-client';
import { RawHttp } from '../testing/raw-http';

let dir: string;
let ca: TestCa;
let server: TestServer;
let certFiles: { certFile: string; keyFile: string };

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'golive-rtmps-'));
  ca = await makeTestCa(dir);
  const cert = await makeServerCert(ca, 'server');
  certFiles = cert;
  server = await startTestServer({ TLS_CERT: cert.certFile, TLS_KEY: cert.keyFile, RTMPS_PORT: '0', RTMP_HANDSHAKE_TIMEOUT_SECONDS: '1', RTMP_MAX_CONNECTIONS_PER_ADDRESS: '6' });
});
after(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Raw bytes to a port (RawHttp's socket); resolves with what the server sent once it closes the connection. */
function raw(port: number, send?: Buffer): { socket: net.Socket; closed: Promise<Buffer> } {
  const r = new RawHttp(port);
  if (send) r.socket.write(send);
  return { socket: r.socket, closed: r.until('closed', (x) => x.closed, 30_000).then(() => Buffer.from(r.data, 'latin1')) };
}

test('ffmpeg publishes over rtmps://, ffprobe plays over rtmps:// and rtmp://; the API shows the rtmps URLs', async () => {
  assert.ok(server.rtmpsPort, 'RTMPS is listening');
  const res = await httpsRequest(`https://127.0.0.1:${server.httpPort}/api/streams`, { ca: ca.ca, method: 'POST', headers: operatorHeaders(), body: '{}' });
  assert.equal(res.status, 201, res.body);
  const s = JSON.parse(res.body) as { id: string; key: string; urls: Record<string, string> };
  const rtmpsBase = `rtmps://127.0.0.1:${server.rtmpsPort}/live`;
  assert.equal(s.urls.obsServerTls, rtmpsBase);
  assert.equal(s.urls.rtmpsPublish, `${rtmpsBase}/${s.key}`);
  assert.equal(s.urls.obsServer, `rtmp://127.0.0.1:${server.rtmpPort}/live`);

  const pub = publishTestStream(`${rtmpsBase}/${s.key}`, { seconds: 40 });
  try {
    await waitFor('live over RTMPS', () => server.hub.activeStats().find((x) => x.id === s.id && x.state === 'live' && x.video && x.audio), 20000);
    const overTls = await probe(`${rtmpsBase}/${s.id}`);
    assert.ok(overTls.some((x) => x.codec_name === 'h264' && x.width === 320 && x.height === 240), JSON.stringify(overTls));
    assert.ok(overTls.some((x) => x.codec_name === 'aac'), JSON.stringify(overTls));
    const plain = await probe(`${server.rtmpUrl}/${s.id}`);
    assert.ok(plain.some((x) => x.codec_name === 'h264'), JSON.stringify(plain));
    const stream = JSON.parse((await httpsRequest(`https://127.0.0.1:${server.httpPort}/api/streams/${s.id}`, { ca: ca.ca })).body) as { urls: Record<string, string> };
    assert.equal(stream.urls.rtmpsPlay, `${rtmpsBase}/${s.id}`);
  } finally {
    pub.child.kill('SIGKILL');
    await pub.exited;
  }
});

test('a wrong key over RTMPS is refused like over RTMP', async () => {
  const pub = publishTestStream(`rtmps://127.0.0.1:${server.rtmpsPort}/live/not-a-key`, { seconds: 5 });
  assert.notEqual(await pub.exited, 0, 'ffmpeg fails');
  assert.equal(server.hub.activeStats().filter((x) => x.id === 'not-a-key').length, 0);
});

test('hostile: plain RTMP and garbage on the RTMPS port are closed; stalled handshakes end at the deadline and are capped per address', async () => {
  const c0c1 = Buffer.alloc(1537);
  c0c1[0] = 3;
  const plain = raw(server.rtmpsPort!, c0c1);
  const garbage = raw(server.rtmpsPort!, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  for (const c of [plain, garbage]) {
    const got = await c.closed;
    assert.equal(got.length < 1537 || got[0] !== 3, true, 'no RTMP handshake answered in the clear');
  }
  // Six stalled TCP connections hold the address's cap; a seventh is closed before its handshake.
  const stalled = Array.from({ length: 6 }, () => raw(server.rtmpsPort!));
  await waitFor('stalled connections open', () => stalled.every((x) => x.socket.readyState === 'open'), 5000, 20);
  await new Promise((r) => setTimeout(r, 300));
  const seventh = tls.connect({ port: server.rtmpsPort!, host: '127.0.0.1', ca: ca.ca });
  const outcome = await new Promise<string>((resolve) => {
    seventh.once('secureConnect', () => resolve('connected'));
    seventh.once('error', (e) => resolve(e.message));
    seventh.once('close', () => resolve('closed'));
  });
  seventh.destroy();
  assert.notEqual(outcome, 'connected');
  // RTMP_HANDSHAKE_TIMEOUT_SECONDS=1 is the TLS handshake's deadline too.
  await Promise.all(stalled.map((x) => x.closed));
  // A TLS client that completes the handshake and sends no RTMP: the RTMP handshake deadline closes it.
  const quiet = tls.connect({ port: server.rtmpsPort!, host: '127.0.0.1', ca: ca.ca });
  quiet.on('error', () => undefined);
  await new Promise<void>((resolve) => quiet.once('secureConnect', () => resolve()));
  await new Promise<void>((resolve) => quiet.once('close', () => resolve()));
  assert.equal(server.rtmp.connectionCount, 0);
});

test('a reloaded certificate reaches the RTMPS listener too', async () => {
  const peer = () =>
    new Promise<string>((resolve, reject) => {
      const s = tls.connect({ port: server.rtmpsPort!, host: '127.0.0.1', ca: ca.ca }, () => {
        resolve(s.getPeerCertificate().fingerprint256);
        s.destroy();
      });
      s.on('error', reject);
    });
  const before = await peer();
  const next = await makeServerCert(ca, 'renewed');
  copyFileSync(next.certFile, certFiles.certFile);
  copyFileSync(next.keyFile, certFiles.keyFile);
  assert.equal(server.tls!.reload('test'), true);
  const after = await peer();
  assert.notEqual(after, before);
  assert.equal(after, new X509Certificate(next.cert).fingerprint256);
});
