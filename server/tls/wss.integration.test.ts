/**
 * Browser ingest over WSS: a real WebSocket client (trusting the test CA, sending the Origin a page on this
 * server would) publishes a real Matroska recording through /ingest on the HTTPS port; the stream goes live and
 * its LL-HLS playlist is served over HTTPS. A foreign Origin is refused on the TLS port as on plain HTTP.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { connectIngest, openIngest } from '../testing/ingest-client';
import { makeServerCert, makeTestCa, type TestCa } from '../testing/certs';
import { operatorHeaders, startTestServer, waitFor, type TestServer } from '../testing/harness';
import { httpsRequest } from '../testing/https-client';
import { testWebm } from '../testing/media';

let dir: string;
let ca: TestCa;
let server: TestServer;
let base: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'golive-wss-'));
  ca = await makeTestCa(dir);
  const cert = await makeServerCert(ca, 'server');
  server = await startTestServer({ TLS_CERT: cert.certFile, TLS_KEY: cert.keyFile });
  base = `https://127.0.0.1:${server.httpPort}`;
});
after(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('WSS /ingest from this server\'s own https origin goes live; a foreign origin is refused', async () => {
  const foreign = connectIngest(base, { ca: ca.ca, origin: 'https://evil.example' });
  assert.equal(await foreign.opened, false, 'a foreign Origin is refused');

  const media = await testWebm(6);

  const created = JSON.parse((await httpsRequest(`${base}/api/streams`, { ca: ca.ca, method: 'POST', headers: operatorHeaders(), body: '{}' })).body) as { id: string; key: string };
  const c = await openIngest(base, { ca: ca.ca, origin: base });
  c.ws.send(JSON.stringify({ type: 'start', v: 1, streamId: created.id, key: created.key, mimeType: 'video/webm;codecs=h264,opus', captureStart: Date.now() }));
  await waitFor('started', () => c.messages.find((m) => m.type === 'started'), 15000);
  const pieces = 24;
  const size = Math.ceil(media.length / pieces);
  let sent = 0;
  const sender = (async () => {
    for (; sent < pieces && c.ws.readyState === WebSocket.OPEN; sent++) {
      c.ws.send(media.subarray(sent * size, (sent + 1) * size));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  try {
    await waitFor('live over WSS', () => server.hub.activeStats().find((s) => s.id === created.id && s.state === 'live' && s.video && s.audio), 30000);
    const playlist = await waitFor('playlist over https', async () => {
      const r = await httpsRequest(`${base}/hls/${created.id}/index.m3u8`, { ca: ca.ca });
      return r.status === 200 && r.body.includes('#EXTINF') ? r : null;
    }, 30000, 250);
    assert.match(playlist.body, /^#EXTM3U/);
  } finally {
    await sender;
    c.ws.close();
  }
});
