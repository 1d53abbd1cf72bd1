/**
 * Forward targets that misbehave, and API calls that do: nothing a target does grows our memory, holds more than one
 * connection to it, or touches the other targets and our players; bad input to the API is refused; the keys never
 * reach an answer or a log line.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { startServer, type RunningServer } from '../app';
import { loadConfig } from '../config';
import { ServerHandshake } from '../rtmp/handshake';
import { createStreamAt, operatorHeaders, publishTestStream, TEST_ADMIN_TOKEN, waitFor, waitLive, type Proc } from '../testing/harness';
import { startNginxRtmp, type NginxRtmp } from '../testing/nginx';
import { connectPlayer, type RtmpPlayer } from '../testing/rtmp-client';

/** Our connections to `port` that are open (ESTABLISHED, client side), from the kernel's table. */
function establishedTo(port: number): number {
  let n = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    if (f[3] === '01' && parseInt(f[2].split(':')[1], 16) === port) n++;
  }
  return n;
}

type Behaviour = 'silent' | 'garbage' | 'handshake-then-silent';

/** A TCP listener on loopback that plays a broken RTMP server. */
async function fakeTarget(behaviour: Behaviour) {
  const sockets = new Set<net.Socket>();
  const stats = { accepted: 0 };
  const srv = net.createServer((sock) => {
    stats.accepted++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    if (behaviour === 'silent') {
      sock.pause(); // accepts, never reads, never answers
      return;
    }
    if (behaviour === 'garbage') {
      sock.once('data', () => {
        const junk = randomBytes(64 * 1024);
        junk[0] = 0x42;
        sock.write(junk);
      });
      return;
    }
    const hs = new ServerHandshake();
    const onData = (d: Buffer) => {
      const r = hs.push(d);
      for (const o of r.output) sock.write(o);
      if (r.done) {
        sock.off('data', onData);
        sock.pause(); // handshake done, then never reads or answers connect
      }
    };
    sock.on('data', onData);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    stats,
    /** Our side's open connections to it (a paused socket here never sees our close). */
    open: () => establishedTo(port),
    url: (key: string) => `rtmp://127.0.0.1:${port}/live/${key}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

describe('hostile forward targets and API input', () => {
  let server: RunningServer;
  let http: string;
  let dataDir: string;
  const logLines: string[] = [];
  let good: NginxRtmp;
  let frozen: NginxRtmp;
  const procs: Proc[] = [];
  let player: RtmpPlayer | null = null;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'golive-fwd-hostile-'));
    const config = loadConfig({
      PORT: '0',
      RTMP_PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      FORWARD_CONNECT_TIMEOUT_SECONDS: '2',
      FORWARD_RETRY_MIN_SECONDS: '0.5',
      FORWARD_RETRY_MAX_SECONDS: '1',
    });
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString());
        cb();
      },
    });
    server = await startServer({ config, logger: pino({ level: 'debug', base: undefined }, sink), withNext: false });
    http = `http://127.0.0.1:${server.httpPort}`;
    [good, frozen] = await Promise.all([startNginxRtmp(), startNginxRtmp()]);
  });
  after(async () => {
    await player?.close();
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await server.close();
    await Promise.all([good.dispose(), frozen.dispose()]);
    await rm(dataDir, { recursive: true, force: true });
  });

  const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = operatorHeaders()) => {
    const res = await fetch(`${http}${p}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, text: await res.text() };
  };

  test('bad URLs and bodies get 400, non-operators 401, unknown streams and targets 404, a full stream 409', async () => {
    const s = await createStreamAt(http);
    const base = `/api/streams/${s.id}/forwards`;
    for (const url of ['http://example.com/app/key', 'rtmp://example.com/onlyapp', 'rtmp://ex ample.com/app/key', 'rtmp://example.com:99999/app/key', 'rtmp://u:p@example.com/app/key', `rtmp://example.com/app/${'k'.repeat(5000)}`, 'rtmp://example.com/app/key\u0000']) {
      const r = await call('POST', base, { url });
      assert.equal(r.status, 400, `${url}: ${r.text}`);
      assert.ok(!r.text.includes('key\u0000'), r.text);
    }
    assert.equal((await call('POST', base, { url: 'rtmp://example.com/app/k', extra: 1 })).status, 400);
    assert.equal((await call('POST', base, { url: 'rtmp://example.com/app/k', label: 'x'.repeat(500) })).status, 400);
    assert.equal((await call('POST', base, { url: 'rtmp://example.com/app/k', enabled: 'yes' })).status, 400);
    assert.equal((await call('POST', base, '{not json')).status, 400);
    // Non-operators: no token, a wrong token; a page elsewhere; not JSON.
    assert.equal((await call('GET', base, undefined, {})).status, 401);
    assert.equal((await call('POST', base, { url: 'rtmp://example.com/app/k' }, { 'Content-Type': 'application/json' })).status, 401);
    assert.equal((await call('POST', base, { url: 'rtmp://example.com/app/k' }, operatorHeaders('wrong-token-0123456789abcdef'))).status, 401);
    assert.equal((await call('POST', base, { url: 'rtmp://example.com/app/k' }, { ...operatorHeaders(), Origin: 'https://evil.example' })).status, 403);
    assert.equal((await call('POST', base, 'x', { Authorization: operatorHeaders().Authorization, 'Content-Type': 'text/plain' })).status, 415);
    assert.equal((await call('GET', '/api/streams/nosuchstream/forwards')).status, 404);
    assert.equal((await call('GET', '/api/streams/%zz/forwards')).status, 404);
    assert.equal((await call('PATCH', `${base}/0123456789ab`, { enabled: false })).status, 404);
    assert.equal((await call('DELETE', `${base}/..%2f`)).status, 404);
    const ok = await call('POST', base, { url: 'rtmp://example.com/app/k1' });
    assert.equal(ok.status, 201);
    const fid = (JSON.parse(ok.text) as { id: string }).id;
    assert.equal((await call('PATCH', `${base}/${fid}`, {})).status, 400);
    assert.equal((await call('PATCH', `${base}/${fid}`, { url: 'ftp://x/y/z' })).status, 400);
    assert.equal((await call('PATCH', `${base}/${fid}`, { enabled: false }, { 'Content-Type': 'application/json' })).status, 401);
    assert.equal((await call('DELETE', `${base}/${fid}`, undefined, {})).status, 401);
    for (let i = 1; i < 10; i++) assert.equal((await call('POST', base, { url: `rtmp://example.com/app/k${i}x` })).status, 201);
    assert.equal((await call('POST', base, { url: 'rtmp://example.com/app/one-too-many' })).status, 409);
    const list = JSON.parse((await call('GET', base)).text) as { forwards: unknown[] };
    assert.equal(list.forwards.length, 10);
  });

  test('targets that never answer, answer garbage, stop after the handshake, or stop reading while live stay bounded and harm nobody', async () => {
    const silent = await fakeTarget('silent');
    const garbage = await fakeTarget('garbage');
    const halfway = await fakeTarget('handshake-then-silent');
    try {
      const s = await createStreamAt(http);
      const keys = { good: 'good-key-0123456789abcdef', frozen: 'frozen-key-0123456789abcd', silent: 'silent-key-0123456789abcd', garbage: 'garbage-key-012345678abcd', halfway: 'halfway-key-012345678abcd' };
      const ids: Record<string, string> = {};
      for (const [label, url] of [
        ['good', good.url(keys.good)],
        ['frozen', frozen.url(keys.frozen)],
        ['silent', silent.url(keys.silent)],
        ['garbage', garbage.url(keys.garbage)],
        ['halfway', halfway.url(keys.halfway)],
      ] as const) {
        const r = await call('POST', `/api/streams/${s.id}/forwards`, { url, label });
        assert.equal(r.status, 201, r.text);
        ids[label] = (JSON.parse(r.text) as { id: string }).id;
      }
      // Noise does not compress: ~6 Mbit/s, so a target that stops reading fills its buffers within seconds.
      const pub = publishTestStream(`${server.rtmpPort ? `rtmp://127.0.0.1:${server.rtmpPort}/live` : ''}/${s.key}`, {
        size: '320x240',
        videoBitrate: '6M',
        extra: ['-vf', 'noise=alls=100:allf=t'],
      });
      procs.push(pub);
      await waitLive({ http } as never, s.id, 20000);
      const state = (label: string) => server.forwards.forwarder(ids[label])?.status();
      await waitFor('good and frozen live', () => state('good')?.state === 'live' && state('frozen')?.state === 'live', 15000);
      player = await connectPlayer(`rtmp://127.0.0.1:${server.rtmpPort}/live/${s.id}`);
      const [goodBefore] = await good.publishers();

      frozen.freeze();
      const started = Date.now();
      let maxFrozenBuffered = 0;
      let maxOtherBuffered = 0;
      let playerMedia = player.media.videoMessages;
      while (Date.now() - started < 40_000) {
        const f = server.forwards.forwarder(ids.frozen);
        maxFrozenBuffered = Math.max(maxFrozenBuffered, f?.connectionBufferedBytes ?? 0);
        for (const l of ['silent', 'garbage', 'halfway']) maxOtherBuffered = Math.max(maxOtherBuffered, server.forwards.forwarder(ids[l])?.connectionBufferedBytes ?? 0);
        for (const f2 of [silent, garbage, halfway]) assert.ok(f2.open() <= 1, 'one connection at a time to a target');
        if (f && f.status().state !== 'live' && Date.now() - started > 3000) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const frozenState = state('frozen');
      assert.notEqual(frozenState?.state, 'live', 'the frozen target was dropped');
      assert.ok(frozenState?.reason, 'with a reason');
      // The hub stops handing a target media past 2 MiB unsent (then skips to keyframes); one message more at most.
      assert.ok(maxFrozenBuffered > 1024 * 1024, `the frozen target's buffer filled (${maxFrozenBuffered} bytes): the bound was tested`);
      assert.ok(maxFrozenBuffered <= 3 * 1024 * 1024, `frozen target buffered ${maxFrozenBuffered} bytes`);
      assert.ok(maxOtherBuffered <= 64 * 1024, `broken targets buffered ${maxOtherBuffered} bytes`);
      assert.ok((server.forwards.forwarder(ids.frozen)?.cachedBytes ?? 0) <= 8 * 1024 * 1024 + 1024 * 1024);

      // Meanwhile: the good target on the same connection, our player receiving.
      assert.equal(state('good')?.state, 'live');
      assert.equal((await good.publishers())[0]?.clientId, goodBefore.clientId);
      assert.equal(player.closeReason, null);
      assert.ok(player.media.videoMessages > playerMedia, 'our player kept receiving');
      playerMedia = player.media.videoMessages;

      // What the broken ones show.
      assert.match(state('silent')?.reason ?? '', /no answer to the RTMP handshake within 2 s/);
      assert.match(state('garbage')?.reason ?? '', /not RTMP/);
      assert.match(state('halfway')?.reason ?? '', /no answer to connect within 2 s/);
      for (const l of ['silent', 'garbage', 'halfway']) assert.notEqual(state(l)?.state, 'live');
      // Retried with backoff, never in parallel, never in a tight loop.
      const elapsedS = (Date.now() - started) / 1000 + 10;
      for (const f2 of [silent, garbage, halfway]) {
        assert.ok(f2.stats.accepted >= 2 && f2.stats.accepted <= elapsedS / 0.4 + 2, `accepted ${f2.stats.accepted} in ${elapsedS} s`);
      }

      // The frozen target comes back: forwarded again.
      frozen.thaw();
      await waitFor('the frozen target live again', () => state('frozen')?.state === 'live', 30000);
      await waitFor('nginx sees its publisher', async () => (await frozen.publishers()).some((p) => p.name === keys.frozen), 10000);
      assert.equal(state('good')?.state, 'live');
      assert.ok(player.media.videoMessages > playerMedia);

      // No key in any log line.
      const log = logLines.join('');
      assert.ok(log.includes('forward target'), 'forward events are logged');
      for (const k of Object.values(keys)) assert.ok(!log.includes(k), `key ${k} in the log`);
      await pub.kill('SIGKILL');
    } finally {
      await Promise.all([silent.close(), garbage.close(), halfway.close()]);
    }
  });
});
