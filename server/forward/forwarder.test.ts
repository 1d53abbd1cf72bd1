import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import type { MediaPacket } from '../codec/flv';
import { Forwarder, MAX_GOP_BYTES, withoutKey } from './forwarder';
import { parseForwardUrl } from './url';

const packet = (kind: 'audio' | 'video', dts: number, size: number, keyframe = false, config = false): MediaPacket => {
  const flv = Buffer.alloc(size);
  return { kind, codec: kind === 'video' ? 'h264' : 'aac', dts, cts: 0, keyframe, config, data: flv, flv, receivedAt: 0 } as MediaPacket;
};

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('Forwarder without a reachable target', () => {
  test('keeps only the GOP since the last keyframe, bounded; reports nothing buffered to the hub; retries with a reason', async () => {
    let unsubscribed = 0;
    let stopped = 0;
    const f = new Forwarder(
      't',
      parseForwardUrl(`rtmp://127.0.0.1:${await deadPort()}/live/key-0123456789abcdef`),
      () => () => unsubscribed++,
      { connectTimeoutMs: 2000, maxBufferedBytes: 1 << 20, stallMs: 5000, writeBatchMs: 0, tls: { allowSelfSigned: false }, minBackoffMs: 60_000, maxBackoffMs: 60_000 },
      { info: () => undefined, warn: () => undefined },
      () => stopped++,
    );
    f.begin();
    f.start({ metadata: { width: 1 }, videoConfig: null, audioConfig: null, gop: [] });
    f.packet(packet('video', 0, 40, false, true));
    f.packet(packet('video', 10, 1000)); // before any keyframe: not kept
    assert.equal(f.cachedBytes, 0);
    f.packet(packet('video', 40, 5000, true));
    f.packet(packet('audio', 50, 300));
    assert.equal(f.cachedBytes, 5000 + 300 + 2 * 512);
    f.packet(packet('video', 80, 2000, true)); // a new GOP replaces the old one
    assert.equal(f.cachedBytes, 2000 + 512);
    // A GOP that never ends is dropped past the bound (until the next keyframe), never kept growing.
    let max = 0;
    for (let i = 0; i < 200; i++) {
      f.packet(packet('video', 100 + i, 100_000));
      max = Math.max(max, f.cachedBytes);
    }
    assert.ok(max <= MAX_GOP_BYTES + 100_000 + 512, `cached ${max}`);
    assert.equal(f.cachedBytes, 0);
    assert.equal(f.bufferedBytes(), 0, 'not connected: nothing for the hub to wait on');
    const st = await new Promise<ReturnType<Forwarder['status']>>((resolve) => {
      const t = setInterval(() => {
        const s = f.status();
        if (s.reason) {
          clearInterval(t);
          resolve(s);
        }
      }, 20);
    });
    assert.equal(st.state, 'retrying');
    assert.match(st.reason ?? '', /connection refused by 127\.0\.0\.1:\d+/);
    assert.ok((st.retryInSeconds ?? 0) >= 40);
    assert.ok(!JSON.stringify(st).includes('key-0123456789abcdef'));
    f.stop();
    assert.equal(unsubscribed, 1);
    assert.equal(stopped, 1);
    f.end('stream ended'); // after stop: nothing more
    assert.equal(stopped, 1);
  });
});

describe('withoutKey', () => {
  test('a key a platform echoes is masked, also its bare part before a ?query', () => {
    const key = 'abcd-efgh-ijkl-mnop?s_bl=1';
    assert.equal(withoutKey(`bad stream abcd-efgh-ijkl-mnop?s_bl=1 refused`, key), 'bad stream ••••mnop refused');
    assert.equal(withoutKey('name abcd-efgh-ijkl-mnop is taken', key), 'name ••••mnop is taken');
    assert.equal(withoutKey('connect ECONNREFUSED', key), 'connect ECONNREFUSED');
  });
});
