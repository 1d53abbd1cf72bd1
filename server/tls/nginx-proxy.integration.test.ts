/**
 * docs/deploy/nginx.conf, as shipped, in front of GoLive with a real nginx (Debian's): only its ports, the upstream
 * port and the certificate paths are changed. Through it: HTTPS (a test CA's certificate), the plain-HTTP redirect,
 * API writes with the browser's Origin (Host passed with its port), WSS /ingest going live, LL-HLS blocking
 * playlist reloads and a held preload-hinted part (buffering off).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { ROOT_DIR } from '../app';
import { makeServerCert, makeTestCa, type TestCa } from '../testing/certs';
import { operatorHeaders, startTestServer, waitFor, type TestServer } from '../testing/harness';
import { httpsRequest } from '../testing/https-client';
import { testWebm } from '../testing/media';
import { openIngest } from '../testing/ingest-client';
import { startNginx, type RunningNginx } from '../testing/nginx';
import { freePort } from '../testing/sockets';
import { RawHttp } from '../testing/raw-http';

let dir: string;
let ca: TestCa;
let server: TestServer;
let nginx: RunningNginx;
let tlsPort: number;
let plainPort: number;
let base: string;

/** The shipped file with this test's ports and files; fails if the file no longer has the lines it changes. */
function shippedConfig(upstreamPort: number, certFile: string, keyFile: string): string {
  let conf = readFileSync(path.join(ROOT_DIR, 'docs/deploy/nginx.conf'), 'utf8');
  const swap = (from: string, to: string) => {
    assert.ok(conf.includes(from), `docs/deploy/nginx.conf has "${from}"`);
    conf = conf.split(from).join(to);
  };
  swap('server 127.0.0.1:3000;', `server 127.0.0.1:${upstreamPort};`);
  swap('listen 80;', `listen 127.0.0.1:${plainPort};`);
  swap('listen [::]:80;', '');
  swap('listen 443 ssl http2;', `listen 127.0.0.1:${tlsPort} ssl http2;`);
  swap('listen [::]:443 ssl http2;', '');
  swap('/etc/letsencrypt/live/live.example.com/fullchain.pem', certFile);
  swap('/etc/letsencrypt/live/live.example.com/privkey.pem', keyFile);
  return conf;
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'golive-nginx-'));
  ca = await makeTestCa(dir);
  const cert = await makeServerCert(ca, 'proxy');
  tlsPort = await freePort();
  plainPort = await freePort();
  base = `https://127.0.0.1:${tlsPort}`;
  // PUBLIC_URL names the proxy (as the file's comments say); requests below use another name for the same proxy.
  server = await startTestServer({ PUBLIC_URL: `https://localhost:${tlsPort}` });
  nginx = await startNginx(dir, shippedConfig(server.httpPort, cert.certFile, cert.keyFile), tlsPort);
});
after(async () => {
  await nginx?.stop();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('HTTPS through nginx; plain HTTP on its port 80 redirects to https', async () => {
  const health = await httpsRequest(`${base}/healthz`, { ca: ca.ca });
  assert.equal(health.status, 200, health.body);
  const r = new RawHttp(plainPort).send('GET /watch/x?y=1 HTTP/1.1\r\nHost: live.example.com\r\nConnection: close\r\n\r\n');
  await r.until('an answer', (x) => x.answers().length > 0 || x.closed);
  const [answer] = r.answers();
  assert.equal(answer?.status, 301, r.data);
  assert.equal(answer.headers.get('location'), 'https://live.example.com/watch/x?y=1');
});

test('API writes through nginx: the browser Origin of the proxy is accepted (Host keeps its port), a foreign one refused', async () => {
  const ok = await httpsRequest(`${base}/api/streams`, { ca: ca.ca, method: 'POST', headers: { ...operatorHeaders(), Origin: base }, body: '{}' });
  assert.equal(ok.status, 201, ok.body);
  assert.match((JSON.parse(ok.body) as { urls: { watch: string } }).urls.watch, new RegExp(`^https://localhost:${tlsPort}/watch/`));
  const foreign = await httpsRequest(`${base}/api/streams`, { ca: ca.ca, method: 'POST', headers: { ...operatorHeaders(), Origin: 'https://evil.example' }, body: '{}' });
  assert.equal(foreign.status, 403, foreign.body);
});

test('WSS /ingest through nginx goes live; LL-HLS blocking reloads and a held part come through', async () => {
  const media = await testWebm(12);
  const created = JSON.parse((await httpsRequest(`${base}/api/streams`, { ca: ca.ca, method: 'POST', headers: operatorHeaders(), body: '{}' })).body) as { id: string; key: string };

  const c = await openIngest(base, { ca: ca.ca, origin: base });
  c.ws.send(JSON.stringify({ type: 'start', v: 1, streamId: created.id, key: created.key, mimeType: 'video/webm;codecs=h264,opus', captureStart: Date.now() }));
  await waitFor('started', () => c.messages.find((m) => m.type === 'started'), 15000);
  const pieces = 48;
  const size = Math.ceil(media.length / pieces);
  let stop = false;
  const sender = (async () => {
    for (let i = 0; i < pieces && !stop && c.ws.readyState === WebSocket.OPEN; i++) {
      c.ws.send(media.subarray(i * size, (i + 1) * size));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  try {
    await waitFor('live through nginx', () => server.hub.activeStats().find((s) => s.id === created.id && s.state === 'live' && s.video && s.audio), 30000);
    const playlistUrl = `${base}/hls/${created.id}/index.m3u8`;
    const first = await waitFor('a playlist with parts', async () => {
      const r = await httpsRequest(playlistUrl, { ca: ca.ca });
      return r.status === 200 && r.body.includes('#EXT-X-PRELOAD-HINT') && r.body.includes('#EXTINF') ? r.body : null;
    }, 30000, 200);
    assert.match(first, /CAN-BLOCK-RELOAD=YES/);
    // The part after the last one listed: a blocking reload for it is held by GoLive and passed on by nginx.
    const lines = first.split('\n');
    const sequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(first)![1]);
    const segments = lines.filter((l) => l.startsWith('#EXTINF')).length;
    const lastInf = lines.map((l) => l.startsWith('#EXTINF')).lastIndexOf(true);
    const partsAfter = lines.slice(lastInf + 1).filter((l) => l.startsWith('#EXT-X-PART:')).length;
    const msn = sequence + segments;
    const reload = await httpsRequest(`${playlistUrl}?_HLS_msn=${msn}&_HLS_part=${partsAfter}`, { ca: ca.ca, timeoutMs: 15000 });
    assert.equal(reload.status, 200, reload.body);
    assert.notEqual(reload.body, first, 'a newer playlist');
    const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(reload.body)![1];
    const part = await httpsRequest(new URL(hint, playlistUrl).toString(), { ca: ca.ca, timeoutMs: 15000 });
    assert.equal(part.status, 200);
    assert.ok(part.body.length > 0, 'the hinted part, once it exists');
  } finally {
    stop = true;
    await sender;
    c.ws.close();
  }
  assert.ok(!/\[(error|crit|alert|emerg)\]/.test(nginx.errorLog()), nginx.errorLog().slice(-2000));
});
