/**
 * RTMPS out: nginx's `stream` module terminates TLS (a certificate from a CA the test makes) in front of nginx-rtmp,
 * as platforms' RTMPS ingest does. The certificate is checked: trusted through FORWARD_TLS_CA_FILE it forwards,
 * without it the target fails with the TLS error, and FORWARD_TLS_ALLOW_SELF_SIGNED skips the check.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { operatorHeaders, probe, publishTestStream, startTestServer, waitFor, waitLive, type Proc, type TestServer } from '../testing/harness';
import { startNginxRtmp, type NginxRtmp } from '../testing/nginx';
import { makeTestCa } from '../testing/test-ca';
import { Forwarder, type ForwarderOptions } from './forwarder';
import { parseForwardUrl } from './url';

const quiet = { info: () => undefined, warn: () => undefined };
const opts = (tls: ForwarderOptions['tls']): ForwarderOptions => ({ connectTimeoutMs: 4000, maxBufferedBytes: 32 << 20, stallMs: 10_000, writeBatchMs: 33, tls, minBackoffMs: 300, maxBackoffMs: 1000 });

describe('RTMPS forward targets through nginx TLS termination', () => {
  let dir: string;
  let caPem: Buffer;
  let server: TestServer;
  let nginx: NginxRtmp;
  const procs: Proc[] = [];
  const forwarders: Forwarder[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'golive-rtmps-'));
    const ca = await makeTestCa(dir);
    caPem = await readFile(ca.caFile);
    nginx = await startNginxRtmp({ tls: { certFile: ca.certFile, keyFile: ca.keyFile } });
    server = await startTestServer({ FORWARD_TLS_CA_FILE: ca.caFile, FORWARD_RETRY_MIN_SECONDS: '0.3', FORWARD_RETRY_MAX_SECONDS: '1' });
  });
  after(async () => {
    for (const f of forwarders) f.stop();
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await server.stop();
    await nginx.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  test('a trusted certificate forwards over TLS; an untrusted one fails with the TLS error; allow-self-signed skips the check', async () => {
    const s = await server.createStream('rtmps');
    const key = 'tls-key-0123456789abcdef';
    const r = await fetch(`${server.http}/api/streams/${s.id}/forwards`, { method: 'POST', headers: operatorHeaders(), body: JSON.stringify({ url: nginx.rtmpsUrl(key, 'live', 'localhost'), label: 'tls' }) });
    assert.equal(r.status, 201);
    const view = (await r.json()) as { id: string; url: string };
    assert.equal(view.url, `rtmps://localhost:${nginx.rtmpsPort}/live/••••cdef`);
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { size: '320x180' });
    procs.push(pub);
    await waitLive(server, s.id);
    await waitFor('the RTMPS target live', () => server.forwards.forwarder(view.id)?.status().state === 'live', 15000);
    // nginx got it through its TLS front: play it back from the plain RTMP side.
    const streams = await probe(nginx.url(key));
    assert.equal(streams.find((x) => x.codec_type === 'video')?.width, 320);
    assert.equal(streams.find((x) => x.codec_type === 'audio')?.codec_name, 'aac');

    // Without our CA: the certificate check refuses it, and it never goes live.
    const untrusted = new Forwarder('u', parseForwardUrl(nginx.rtmpsUrl('untrusted-key', 'live', 'localhost')), (sink) => server.hub.subscribe(s.id, sink), opts({ allowSelfSigned: false }), quiet, () => undefined);
    forwarders.push(untrusted);
    untrusted.begin();
    const st = await waitFor('the untrusted target failed', () => {
      const x = untrusted.status();
      return x.reason ? x : null;
    }, 10000);
    assert.notEqual(st.state, 'live');
    assert.match(st.reason ?? '', /certificate|SELF_SIGNED|UNABLE_TO_VERIFY/i);
    assert.equal(untrusted.status().connections, 0);
    // A name the certificate is not for (127.0.0.2 is not in it) fails too, even with our CA trusted.
    const wrongName = new Forwarder('w', parseForwardUrl(`rtmps://127.0.0.2:${nginx.rtmpsPort}/live/wrong-name-key`), (sink) => server.hub.subscribe(s.id, sink), opts({ allowSelfSigned: false, ca: caPem }), quiet, () => undefined);
    forwarders.push(wrongName);
    wrongName.begin();
    const wn = await waitFor('the wrong-name target failed', () => wrongName.status().reason, 10000);
    assert.match(wn, /altnames|ERR_TLS_CERT_ALTNAME_INVALID/i);
    assert.equal(wrongName.status().connections, 0);

    // Testing only: no check at all.
    const insecure = new Forwarder('i', parseForwardUrl(nginx.rtmpsUrl('insecure-key-0123', 'live', 'localhost')), (sink) => server.hub.subscribe(s.id, sink), opts({ allowSelfSigned: true }), quiet, () => undefined);
    forwarders.push(insecure);
    insecure.begin();
    await waitFor('the insecure target live', () => insecure.status().state === 'live', 10000);
    await pub.kill('SIGKILL');
  });
});
