/**
 * The LL-HLS HTTP handler over real HTTP, fed packet by packet through the hub (no RTMP, no
 * ffmpeg process while the test runs): blocking requests, their timeouts, stream end, bad queries.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { MediaPacket } from '../codec/flv';
import { Hub, type PublishSession } from '../media/hub';
import { makeTestPackets } from '../testing/flv-file';
import { RawHttp } from '../testing/raw-http';
import { HlsService, type HlsOptions, type HlsReply } from './service';

interface Reply {
  status: number;
  body: Buffer;
  headers: http.IncomingHttpHeaders;
  ms: number;
}

function attr(text: string, tag: string, name: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith(tag));
  return line ? new RegExp(`${name}="?([^",]*)`).exec(line)?.[1] : undefined;
}

class Fixture {
  hub = new Hub();
  hls: HlsService;
  server: http.Server;
  base = '';
  pub: PublishSession | null = null;
  sent = 0;
  /** Requests the server has seen. */
  requests = 0;

  constructor(
    private readonly packets: MediaPacket[],
    options: Partial<HlsOptions> = {},
  ) {
    this.hls = new HlsService(this.hub, options);
    this.server = http.createServer((req, res) => {
      this.requests++;
      void this.hls.handle(req, res, new URL(req.url ?? '/', 'http://localhost')).then((ours) => {
        if (!ours) res.writeHead(404).end();
      });
    });
  }

  async start(id: string): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hls/${id}`;
    this.pub = this.hub.publish(id, { kind: 'test', drop: () => undefined });
  }

  /** Feed packets until `until()` holds (or they run out); false when they ran out. */
  feedUntil(until: () => boolean): boolean {
    while (!until()) {
      const p = this.packets[this.sent++];
      if (!p) return false;
      this.pub!.packet({ ...p });
    }
    return true;
  }

  get(path: string, method = 'GET'): Promise<Reply> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.base}/${path}`, { method, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers, ms: performance.now() - started }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async stop(): Promise<void> {
    this.hls.close();
    this.hub.close();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

/** Let the client's requests reach the server (they are held there). */
const settle = async (f: Fixture, id: string, n: number) => {
  for (let i = 0; i < 100 && (f.hls.waiting(id)?.requests ?? 0) < n; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(f.hls.waiting(id)?.requests, n, `${n} requests held`);
};

describe('LL-HLS service: blocking requests', () => {
  let packets: MediaPacket[];
  before(async () => {
    packets = await makeTestPackets({ seconds: 6, fps: 25, gop: 25 });
  });

  describe('one stream, fed packet by packet', () => {
    let f: Fixture;
    const id = 'svc1';
    before(async () => {
      f = new Fixture(packets, { maxBlockMs: 300 });
      await f.start(id);
      assert.ok(f.feedUntil(() => (f.hls.segmenter(id)?.segments.length ?? 0) >= 2));
    });
    after(() => f.stop());

    test('a blocked reload and a blocked hinted-part request are answered when the part is written; the new hint is always a part that will exist', async () => {
      const seg = f.hls.segmenter(id)!;
      let boundaries = 0;
      // About 1.6 s of media: eight parts, at least one segment boundary (where one packet changes
      // the segmenter twice: the segment's last part, then the segment).
      for (let i = 0; i < 8; i++) {
        const hint = seg.nextPart();
        const partName = `${seg.run}-part${hint.msn}.${hint.index}.m4s`;
        const pl = f.get(`index.m3u8?_HLS_msn=${hint.msn}&_HLS_part=${hint.index}`);
        const part = f.get(partName);
        await settle(f, id, 2);
        const msnBefore = hint.msn;
        assert.ok(f.feedUntil(() => seg.nextPart().msn !== hint.msn || seg.nextPart().index !== hint.index));
        if (seg.nextPart().msn !== msnBefore) boundaries++;
        const [p, l] = await Promise.all([part, pl]);
        assert.equal(p.status, 200, partName);
        assert.equal(p.body.toString('latin1', 4, 8), 'moof');
        assert.equal(p.headers['content-length'], String(p.body.length));
        assert.equal(l.status, 200);
        const text = l.body.toString();
        assert.ok(text.includes(`URI="${partName}"`), `the playlist lists ${partName}`);
        const next = seg.nextPart();
        assert.equal(attr(text, '#EXT-X-PRELOAD-HINT:', 'URI'), `${seg.run}-part${next.msn}.${next.index}.m4s`, 'the hint is the next part to be written');
        assert.equal(l.headers['cache-control'], 'public, max-age=6');
        assert.deepEqual(f.hls.waiting(id), { requests: 0, timer: false });
      }
      assert.ok(boundaries >= 1, 'crossed a segment boundary');
    });

    test('a HEAD request for the hinted part is held too, and gets the headers only', async () => {
      const seg = f.hls.segmenter(id)!;
      const hint = seg.nextPart();
      const r = f.get(`${seg.run}-part${hint.msn}.${hint.index}.m4s`, 'HEAD');
      await settle(f, id, 1);
      f.feedUntil(() => seg.nextPart().index !== hint.index || seg.nextPart().msn !== hint.msn);
      const res = await r;
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 0);
      assert.ok(Number(res.headers['content-length']) > 100);
    });

    test('held requests time out on time (one timer per stream): 503 for a reload, 404 for a part; nothing is left behind', async () => {
      const seg = f.hls.segmenter(id)!;
      const next = seg.nextPart();
      const reload = f.get(`index.m3u8?_HLS_msn=${next.msn}&_HLS_part=${next.index + 1}`);
      await new Promise((r) => setTimeout(r, 100));
      const part = f.get(`${seg.run}-part${next.msn}.${next.index}.m4s`);
      await settle(f, id, 2);
      assert.equal(f.hls.waiting(id)?.timer, true);
      const [l, p] = await Promise.all([reload, part]);
      assert.equal(l.status, 503);
      assert.equal(p.status, 404);
      // maxBlockMs 300: not before it (a sweep may answer up to 5 ms early), not much after.
      for (const [name, r] of [['reload', l], ['part', p]] as const) {
        assert.ok(r.ms >= 290, `${name} answered after ${r.ms.toFixed(0)} ms`);
        assert.ok(r.ms < 300 + 250, `${name} answered after ${r.ms.toFixed(0)} ms`);
      }
      assert.deepEqual(f.hls.waiting(id), { requests: 0, timer: false });
    });

    test('bad directives are 400, as before', async () => {
      const next = f.hls.segmenter(id)!.nextPart();
      for (const q of [
        '_HLS_msn=abc',
        '_HLS_part=1',
        '_HLS_msn=1&_HLS_msn=1',
        '_HLS_msn=1&_HLS_part=2&_HLS_part=2',
        '_HLS_msn=1000000000000',
        `_HLS_msn=${next.msn}&_HLS_part=99999999999999`,
        `_HLS_msn=${next.msn + 3}`,
      ]) {
        const r = await f.get(`index.m3u8?${q}`);
        assert.equal(r.status, 400, q);
      }
      // Percent-encoded digits are still digits; a segment that is already complete: answered at once.
      const encoded = [...String(next.msn - 1)].map((c) => `%3${c}`).join('');
      const r = await f.get(`index.m3u8?_HLS_msn=${encoded}&_HLS_skip=YES`);
      assert.equal(r.status, 200);
      assert.ok(r.ms < 200);
    });

    test('when the stream ends, held requests are answered at once (ENDLIST; the part is 404) and nothing is left behind', async () => {
      const seg = f.hls.segmenter(id)!;
      const next = seg.nextPart();
      const reload = f.get(`index.m3u8?_HLS_msn=${next.msn}&_HLS_part=${next.index}`);
      const part = f.get(`${seg.run}-part${next.msn}.${next.index + 1}.m4s`);
      await settle(f, id, 2);
      f.hub.finish(id);
      f.pub!.end('test over');
      const [l, p] = await Promise.all([reload, part]);
      assert.equal(l.status, 200);
      assert.ok(l.body.toString().includes('#EXT-X-ENDLIST'));
      assert.equal(l.headers['cache-control'], 'public, max-age=10');
      assert.ok(l.ms < 250, `answered at the end, after ${l.ms.toFixed(0)} ms`);
      assert.equal(p.status, 404);
      assert.deepEqual(f.hls.waiting(id), { requests: 0, timer: false });
    });
  });

  test('a new stream: a plain reload waits for the first part; over maxWaiters a reload is refused at once', async () => {
    const f = new Fixture(packets, { maxBlockMs: 2000, maxWaiters: 2 });
    const id = 'svc2';
    await f.start(id);
    try {
      const first = f.get('index.m3u8');
      await settle(f, id, 1);
      f.feedUntil(() => (f.hls.segmenter(id)?.segments[0]?.parts.length ?? 0) > 0);
      const r = await first;
      assert.equal(r.status, 200);
      assert.equal(r.headers['cache-control'], 'public, max-age=1');
      assert.ok(attr(r.body.toString(), '#EXT-X-PRELOAD-HINT:', 'URI'));

      const next = f.hls.segmenter(id)!.nextPart();
      const held = [0, 1].map(() => f.get(`index.m3u8?_HLS_msn=${next.msn}&_HLS_part=${next.index}`));
      await settle(f, id, 2);
      const refused = await f.get(`index.m3u8?_HLS_msn=${next.msn}&_HLS_part=${next.index}`);
      assert.equal(refused.status, 503);
      assert.equal(refused.headers['retry-after'], '1');
      assert.ok(refused.ms < 200);
      f.feedUntil(() => f.hls.segmenter(id)!.nextPart().index !== next.index || f.hls.segmenter(id)!.nextPart().msn !== next.msn);
      for (const r of await Promise.all(held)) assert.equal(r.status, 200);
      assert.deepEqual(f.hls.waiting(id), { requests: 0, timer: false });
    } finally {
      await f.stop();
    }
  });
});

describe('LL-HLS service: packaging on demand (idleStopMs)', () => {
  let packets: MediaPacket[];
  before(async () => {
    packets = await makeTestPackets({ seconds: 4, fps: 25, gop: 25 });
  });

  test('a live stream is packaged from the first request, from the cached GOP, and stops when nobody asks', async () => {
    const f = new Fixture(packets, { idleStopMs: 300 });
    const id = 'ondemand';
    await f.start(id);
    try {
      // 1.6 s of a stream with 1 s GOPs: the hub caches the 0.6 s since the last keyframe.
      const t0 = packets[0].dts;
      f.feedUntil(() => packets[f.sent - 1]?.dts - t0 >= 1600);
      assert.equal(f.hls.segmenter(id), undefined, 'nobody asked: no packager');
      assert.equal(f.hls.packaging, 0);
      assert.equal(f.hub.stats(id)?.subscribers.hls ?? 0, 0);

      const r = await f.get('index.m3u8');
      assert.equal(r.status, 200);
      const text = r.body.toString();
      const parts = text.split('\n').filter((l) => l.startsWith('#EXT-X-PART:'));
      assert.ok(parts.length >= 2, `parts from the cached GOP at once:\n${text}`);
      assert.match(parts[0], /INDEPENDENT=YES/, 'the first part starts on the cached keyframe');
      assert.equal(f.hls.packaging, 1);
      const run = f.hls.segmenter(id)!.run;

      // Requests keep it running ...
      for (let i = 0; i < 6; i++) {
        await new Promise((res) => setTimeout(res, 100));
        assert.equal((await f.get('index.m3u8')).status, 200);
      }
      assert.equal(f.hls.segmenter(id)?.run, run, 'still the same packager');
      // ... and without them it stops (checked every idleStopMs / 4).
      for (let i = 0; i < 100 && f.hls.packaging > 0; i++) await new Promise((res) => setTimeout(res, 20));
      assert.equal(f.hls.packaging, 0, 'stopped after idleStopMs without a request');
      assert.equal(f.hub.stats(id)?.subscribers.hls ?? 0, 0, 'and unsubscribed from the hub');

      // The next request starts a fresh one (new URIs).
      assert.equal((await f.get('index.m3u8')).status, 200);
      assert.notEqual(f.hls.segmenter(id)?.run, run);
    } finally {
      await f.stop();
    }
  });

  test('a stream that is not live is not packaged: 404, activate() false', async () => {
    const f = new Fixture(packets, { idleStopMs: 300 });
    await f.start('live1');
    try {
      assert.equal((await f.get('../nolive/index.m3u8')).status, 404);
      assert.equal(f.hls.activate('nolive'), false);
      assert.equal(f.hls.packaging, 0);
      assert.equal(f.hls.activate('live1'), true, 'a live stream (even before its first packet)');
      assert.equal(f.hls.packaging, 1);
    } finally {
      await f.stop();
    }
  });
});

const port = (f: Fixture) => (f.server.address() as AddressInfo).port;

describe('LL-HLS service: held requests per client', () => {
  let packets: MediaPacket[];
  before(async () => {
    packets = await makeTestPackets({ seconds: 6, fps: 25, gop: 25 });
  });

  test('one connection that pipelines 20,001 blocking reloads holds a few; a real viewer is still held and answered (not 503)', async () => {
    // Long segments, so the attacker's reloads are held for the whole attack (10 s, maxBlockMs) before timing out.
    const f = new Fixture(packets, { segmentTarget: 4 });
    const id = 'flood';
    await f.start(id);
    const attacker = new RawHttp(port(f));
    try {
      f.feedUntil(() => (f.hls.segmenter(id)?.segments[0]?.parts.length ?? 0) > 0);
      const ahead = f.hls.segmenter(id)!.nextPart().msn + 1;
      const reload = `GET /hls/${id}/index.m3u8?_HLS_msn=${ahead} HTTP/1.1\r\nHost: x\r\n\r\n`;
      attacker.socket.write(`GET /page HTTP/1.1\r\nHost: x\r\n\r\n${reload.repeat(20_001)}`);
      // Until the server has read all of it, or stops reading (the refusals wait behind the first held answer).
      let seen = -1;
      for (let i = 0; i < 300 && f.requests < 20_002 && f.requests !== seen; i++) {
        seen = f.requests;
        await new Promise((r) => setTimeout(r, 1000));
      }
      const held = f.hls.waiting(id)?.requests ?? 0;
      const next = f.hls.segmenter(id)!.nextPart();
      const viewer = f.get(`index.m3u8?_HLS_msn=${next.msn}&_HLS_part=${next.index}`);
      let early: Reply | null = null;
      void viewer.then((r) => (early = r));
      for (let i = 0; i < 500 && !early && (f.hls.waiting(id)?.requests ?? 0) <= held; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal((early as Reply | null)?.status, undefined, 'the viewer is held, not refused');
      assert.ok(held <= 4, `the attacker's connection holds ${held} requests`);
      f.feedUntil(() => f.hls.segmenter(id)!.nextPart().index !== next.index || f.hls.segmenter(id)!.nextPart().msn !== next.msn);
      assert.equal((await viewer).status, 200);
    } finally {
      attacker.socket.destroy();
      await f.stop();
    }
  });

  test('over maxHeldPerConnection a pipelined blocking request gets 429 with Retry-After (in order, after the held ones)', async () => {
    const f = new Fixture(packets, { maxHeldPerConnection: 2 });
    const id = 'perconn';
    await f.start(id);
    const c = new RawHttp(port(f));
    try {
      f.feedUntil(() => (f.hls.segmenter(id)?.segments[0]?.parts.length ?? 0) > 0);
      const next = f.hls.segmenter(id)!.nextPart();
      c.socket.write(`GET /hls/${id}/index.m3u8?_HLS_msn=${next.msn}&_HLS_part=${next.index} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(4));
      for (let i = 0; i < 200 && f.requests < 4; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(f.hls.waiting(id)?.requests, 2);
      assert.equal(f.hls.held.refusedClient, 2);
      f.feedUntil(() => f.hls.segmenter(id)!.nextPart().index !== next.index || f.hls.segmenter(id)!.nextPart().msn !== next.msn);
      for (let i = 0; i < 300 && c.answers().length < 4; i++) await new Promise((r) => setTimeout(r, 10));
      const answers = c.answers();
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 429, 429]);
      for (const a of answers.slice(2)) assert.match(a.head, /\r\nRetry-After: 1(\r\n|$)/i);
      assert.equal(f.hls.held.total, 0, 'nothing counted once answered');
    } finally {
      c.socket.destroy();
      await f.stop();
    }
  });

  test('over maxHeldPerAddress a blocking request on another connection gets 429 at once', async () => {
    const f = new Fixture(packets, { maxHeldPerAddress: 2 });
    const id = 'peraddr';
    await f.start(id);
    try {
      f.feedUntil(() => (f.hls.segmenter(id)?.segments[0]?.parts.length ?? 0) > 0);
      const next = f.hls.segmenter(id)!.nextPart();
      const q = `index.m3u8?_HLS_msn=${next.msn}&_HLS_part=${next.index}`;
      const held = [f.get(q), f.get(q)];
      await settle(f, id, 2);
      const refused = await f.get(q);
      assert.equal(refused.status, 429);
      assert.equal(refused.headers['retry-after'], '1');
      assert.ok(refused.ms < 1000, `refused at once (${refused.ms.toFixed(0)} ms)`);
      f.feedUntil(() => f.hls.segmenter(id)!.nextPart().index !== next.index || f.hls.segmenter(id)!.nextPart().msn !== next.msn);
      for (const r of await Promise.all(held)) assert.equal(r.status, 200);
      assert.equal(f.hls.held.ofAddress('127.0.0.1'), 0);
    } finally {
      await f.stop();
    }
  });
});

/** A reply that records nothing but its status (for requests made straight through `answer`). */
class FakeReply implements HlsReply {
  status = 0;
  gone = false;
  constructor(
    private readonly addr: string,
    private readonly ua: string,
  ) {}
  send(status: number): void {
    this.status = status;
  }
  destroy(): void {
    this.gone = true;
  }
  viewerKey(): string {
    return `${this.addr}|${this.ua}`;
  }
  address(): string {
    return this.addr;
  }
  connection(): object {
    return this;
  }
}

describe('LL-HLS service: viewer count', () => {
  test('rotating User-Agents (or addresses) cannot grow the viewer map without bound', async () => {
    const packets = await makeTestPackets({ seconds: 2, fps: 25, gop: 25 });
    const f = new Fixture(packets);
    const id = 'uas';
    await f.start(id);
    try {
      f.feedUntil(() => (f.hls.segmenter(id)?.segments[0]?.parts.length ?? 0) > 0);
      const ask = (addr: string, ua: string) => {
        const r = new FakeReply(addr, ua);
        f.hls.answer('GET', `/hls/${id}/index.m3u8`, '', r);
        assert.equal(r.status, 200);
      };
      // Real viewers: three behind one address (distinct browsers), one elsewhere.
      for (const ua of ['a', 'b', 'c']) ask('10.0.0.1', ua);
      ask('10.0.0.2', 'a');
      assert.equal(f.hls.viewers(id), 4);
      // One client, a new User-Agent per request.
      for (let i = 0; i < 5000; i++) ask('10.6.6.6', `bot-${i}`);
      const afterUas = f.hls.viewers(id);
      assert.ok(afterUas <= 4 + 64, `one address counts as at most 64 viewers (${afterUas})`);
      // Many addresses: the map stays bounded.
      for (let i = 0; i < 60_000; i++) ask(`fd00::${i.toString(16)}`, 'x');
      const all = f.hls.viewers(id);
      assert.ok(all <= 50_000, `at most 50,000 viewers held per stream (${all})`);
    } finally {
      await f.stop();
    }
  });
});
