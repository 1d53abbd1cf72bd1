import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MediaPacket } from '../codec/flv';
import { GOP_PACKET_OVERHEAD, Hub, PublishRefused, type StreamInit, type SubscriberSink } from './hub';

function pkt(kind: 'video' | 'audio', dts: number, opts: Partial<MediaPacket> = {}): MediaPacket {
  const flv = Buffer.alloc(opts.flv?.length ?? 100);
  return { kind, codec: kind === 'video' ? 'h264' : 'aac', dts, cts: 0, keyframe: kind === 'audio', config: false, data: flv, flv, receivedAt: 0, ...opts };
}
const key = (dts: number) => pkt('video', dts, { keyframe: true });
const inter = (dts: number) => pkt('video', dts);

class FakeSink implements SubscriberSink {
  kind = 'test';
  inits: StreamInit[] = [];
  packets: MediaPacket[] = [];
  unpublishes = 0;
  ended: string | null = null;
  buffered = 0;
  start(init: StreamInit) {
    this.inits.push(init);
  }
  packet(p: MediaPacket) {
    this.packets.push(p);
  }
  unpublished() {
    this.unpublishes++;
  }
  end(reason: string) {
    this.ended = reason;
  }
  bufferedBytes() {
    return this.buffered;
  }
}
const handle = (drops: string[] = []) => ({ kind: 'test', drop: (r: string) => drops.push(r) });

test('a late subscriber starts with configs and the GOP from the last keyframe', () => {
  const hub = new Hub();
  const pub = hub.publish('s', handle());
  const vcfg = pkt('video', 0, { config: true, keyframe: true });
  const acfg = pkt('audio', 0, { config: true });
  pub.metadata({ width: 640 });
  pub.packet(vcfg);
  pub.packet(acfg);
  pub.packet(key(0));
  pub.packet(inter(33));
  pub.packet(key(1000));
  pub.packet(pkt('audio', 1010));
  pub.packet(inter(1033));
  const sink = new FakeSink();
  hub.subscribe('s', sink);
  assert.equal(sink.inits.length, 1);
  const init = sink.inits[0];
  assert.equal(init.videoConfig, vcfg);
  assert.equal(init.audioConfig, acfg);
  assert.deepEqual(init.metadata, { width: 640 });
  assert.deepEqual(init.gop.map((p) => p.dts), [1000, 1010, 1033]);
  assert.equal(init.gop[0].keyframe, true);
  pub.packet(inter(1066));
  assert.deepEqual(sink.packets.map((p) => p.dts), [1066]);
});

test('a second live publisher is refused; a stale one is replaced and dropped', () => {
  let now = 1000;
  const hub = new Hub({ now: () => now, staleMs: 2000 });
  const drops: string[] = [];
  const first = hub.publish('s', handle(drops));
  first.packet(key(0));
  now += 500;
  assert.throws(() => hub.publish('s', handle()), PublishRefused);
  now += 5000;
  const second = hub.publish('s', handle());
  assert.equal(drops.length, 1);
  assert.equal(first.active, false);
  assert.equal(second.active, true);
  assert.equal(hub.isLive('s'), true);
});

test('a slow subscriber skips to the next keyframe, and is dropped when it stays stuck; others are unaffected', () => {
  let now = 0;
  const hub = new Hub({ now: () => now, maxBufferedBytes: 1000, stuckMs: 5000 });
  const pub = hub.publish('s', handle());
  const slow = new FakeSink();
  const fast = new FakeSink();
  hub.subscribe('s', slow);
  hub.subscribe('s', fast);
  pub.packet(key(0));
  slow.buffered = 5000;
  pub.packet(inter(33)); // over the limit: skip
  slow.buffered = 400; // drained below half
  pub.packet(inter(66)); // not a keyframe: still skipping
  pub.packet(key(100)); // resume here
  assert.deepEqual(slow.packets.map((p) => p.dts), [0, 100]);
  assert.deepEqual(fast.packets.map((p) => p.dts), [0, 33, 66, 100]);
  slow.buffered = 5000;
  for (let t = 133; t < 7000; t += 33) {
    now = t;
    pub.packet(t % 990 === 0 ? key(t) : inter(t));
  }
  assert.equal(slow.ended, 'subscriber too slow');
  assert.equal(fast.ended, null);
  assert.equal(hub.stats('s')?.subscribers.test, 1);
});

test('publisher leaving: subscribers told, kept during grace, resumed by a new publisher on one timeline', async () => {
  let now = 0;
  const hub = new Hub({ now: () => now, graceMs: 50 });
  const events: string[] = [];
  hub.events.on('publish', (e) => events.push(`publish resumed=${e.resumed}`));
  hub.events.on('unpublish', () => events.push('unpublish'));
  hub.events.on('end', () => events.push('end'));
  const sink = new FakeSink();
  hub.subscribe('s', sink);
  const a = hub.publish('s', handle());
  a.packet(key(0));
  a.packet(inter(1000));
  now = 2000;
  a.end('socket closed');
  assert.equal(sink.unpublishes, 1);
  assert.equal(hub.stats('s')?.state, 'reconnecting');
  now = 3000;
  const b = hub.publish('s', handle());
  b.packet(key(0));
  assert.ok(sink.packets[2].dts > 1000, `timeline continues after a republish (${sink.packets[2].dts})`);
  assert.equal(sink.inits.length, 2);
  b.end('bye');
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(sink.ended, 'stream ended');
  assert.deepEqual(events, ['publish resumed=false', 'unpublish', 'publish resumed=true', 'unpublish', 'end']);
  assert.equal(hub.stats('s'), null);
});

test('a throwing sink does not hurt the publisher or other sinks', () => {
  const errors: unknown[] = [];
  const hub = new Hub({ onListenerError: (e) => errors.push(e) });
  const pub = hub.publish('s', handle());
  const bad = new FakeSink();
  bad.packet = () => {
    throw new Error('boom');
  };
  const good = new FakeSink();
  hub.subscribe('s', bad);
  hub.subscribe('s', good);
  pub.packet(key(0));
  assert.equal(good.packets.length, 1);
  assert.equal(errors.length, 1);
});

test('the GOP cache is bounded', () => {
  const hub = new Hub({ maxGopBytes: 1000 });
  const pub = hub.publish('s', handle());
  pub.packet(key(0));
  for (let i = 1; i < 50; i++) pub.packet(inter(i * 33));
  const sink = new FakeSink();
  hub.subscribe('s', sink);
  assert.equal(sink.inits[0].gop.length, 0);
  pub.packet(inter(2000));
  assert.equal(sink.packets.length, 0, 'waits for a keyframe');
  pub.packet(key(2033));
  assert.equal(sink.packets.length, 1);
});

test('a capture clock set before publishing stamps packets with their capture time', () => {
  const hub = new Hub();
  const sink = new FakeSink();
  hub.subscribe('s', sink);
  hub.expectCaptureClock('s', () => 1_000_000);
  const pub = hub.publish('s', handle());
  pub.packet(key(40));
  assert.equal(sink.packets[0].captureTime, 1_000_040);
  const other = hub.publish('t', handle());
  other.packet(key(0));
  assert.equal(hub.stats('t')?.state, 'live');
});

test('finish() ends the stream as soon as the publisher leaves, without the grace period', () => {
  const hub = new Hub({ graceMs: 60_000 });
  const sink = new FakeSink();
  hub.subscribe('s', sink);
  const pub = hub.publish('s', handle());
  pub.packet(key(0));
  hub.finish('s');
  pub.end('stopped');
  assert.equal(sink.ended, 'stream ended');
  assert.equal(hub.stats('s'), null);
});

test('the GOP cache counts an overhead per packet: a flood of 1-byte packets stays bounded (issue 14 item 3)', () => {
  const hub = new Hub(); // the default 16 MiB
  const pub = hub.publish('s', handle());
  pub.packet(key(0));
  // 2 bytes each on the wire (fmt 3 chunks); ~330 bytes of heap each once cached.
  for (let i = 1; i <= 200_000; i++) pub.packet(pkt('video', i, { flv: Buffer.alloc(1) }));
  const gop = hub.gopCache('s');
  assert.ok(gop, 'the stream exists');
  assert.ok(gop.packets <= (16 * 1024 * 1024) / GOP_PACKET_OVERHEAD, `${gop.packets} packets cached`);
  assert.ok(gop.bytes <= 16 * 1024 * 1024, `${gop.bytes} bytes counted`);
  // The next keyframe starts a new cache, as before.
  pub.packet(key(300_000));
  assert.equal(hub.gopCache('s')?.packets, 1);
});
