/** Realtime viewers against the real hub, with fake sockets, fed packets of a real ffmpeg-made FLV. */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { MediaPacket } from '../codec/flv';
import { Hub } from '../media/hub';
import { FanoutGroup } from '../relay/fanout';
import { makeTestPackets } from '../testing/flv-file';
import { boxes, parseFragment } from '../testing/mp4-reader';
import { FragmentEncoder } from './encoder';
import { RealtimeViewer } from './viewer';

const clone = (p: MediaPacket): MediaPacket => ({ ...p });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fakeSocket() {
  const sent: Buffer[] = [];
  const texts: string[] = [];
  return { sent, texts, bufferedAmount: 0, send(b: Buffer) { sent.push(b); }, sendText(t: string) { texts.push(t); } };
}

describe('RealtimeViewer', () => {
  let packets: MediaPacket[];
  before(async () => {
    packets = await makeTestPackets({ seconds: 3, fps: 25, gop: 25 });
  });

  test('viewers in sync are sent the very same Buffers (one encoding, one concatenation per flush)', async () => {
    const hub = new Hub();
    const enc = new FragmentEncoder();
    const group = new FanoutGroup(5);
    const a = fakeSocket();
    const b = fakeSocket();
    const ends: string[] = [];
    hub.subscribe('s', new RealtimeViewer(a, enc, group, (r) => ends.push(r)));
    hub.subscribe('s', new RealtimeViewer(b, enc, group, (r) => ends.push(r)));
    const pub = hub.publish('s', { kind: 'test', drop() {} });
    for (const p of packets) {
      pub.packet(clone(p));
      if (p.kind === 'video') await sleep(6);
    }
    await sleep(20);
    assert.ok(a.sent.length > 50);
    assert.equal(a.sent.length, b.sent.length);
    // The first flush (init segment + first frame) is concatenated per viewer; every later one is shared.
    assert.ok(a.sent[0].equals(b.sent[0]));
    a.sent.slice(1).forEach((m, i) => assert.equal(m, b.sent[i + 1], `message ${i + 1} is one shared Buffer`));
    const frames = packets.filter((p) => !p.config).length;
    // At most once per frame (audio before the first keyframe is not sent), not once per viewer.
    assert.ok(enc.encoded <= frames && enc.encoded > frames * 0.9, `encoded ${enc.encoded} of ${frames} frames`);
    pub.end('done');
    hub.end('s', 'stream ended');
    assert.deepEqual(ends, ['stream ended', 'stream ended']);
  });

  test('init first, then a keyframe; audio tfdt is gap-free; a late joiner starts at the cached GOP', () => {
    const hub = new Hub();
    const enc = new FragmentEncoder();
    const group = new FanoutGroup(0);
    const pub = hub.publish('s', { kind: 'test', drop() {} });
    const half = Math.floor(packets.length / 2);
    packets.slice(0, half).forEach((p) => pub.packet(clone(p)));
    const late = fakeSocket();
    hub.subscribe('s', new RealtimeViewer(late, enc, group, () => undefined));
    packets.slice(half).forEach((p) => pub.packet(clone(p)));
    const all = Buffer.concat(late.sent);
    const top = boxes(all, 0, all.length);
    assert.deepEqual(top.slice(0, 3).map((x) => x.type), ['ftyp', 'moov', 'moof']);
    let audioNext: number | null = null;
    let first = true;
    for (let i = 2; i < top.length; i += 2) {
      const frag = all.subarray(top[i].start - 8, top[i + 1].end);
      const f = parseFragment(frag);
      if (first) {
        assert.ok(f.has(1), 'first fragment is video');
        first = false;
      }
      const audio = f.get(2);
      if (audio) {
        if (audioNext !== null) assert.equal(audio.tfdt, audioNext, 'no hole or overlap in the audio');
        audioNext = audio.tfdt + audio.duration;
      }
    }
    assert.ok(audioNext !== null);
  });

  test('a socket that does not drain: the hub skips it to the next keyframe, never queues more', () => {
    const hub = new Hub({ maxBufferedBytes: 100_000 });
    const enc = new FragmentEncoder();
    const group = new FanoutGroup(0);
    const slow = fakeSocket();
    hub.subscribe('s', new RealtimeViewer(slow, enc, group, () => undefined));
    const pub = hub.publish('s', { kind: 'test', drop() {} });
    for (const p of packets) {
      pub.packet(clone(p));
      slow.bufferedAmount = slow.sent.reduce((n, b) => n + b.length, 0);
    }
    assert.ok(slow.bufferedAmount < 100_000 + 64 * 1024, `sent to the stalled socket: ${slow.bufferedAmount}`);
    assert.ok((hub.stats('s')?.droppedForSlowSubscribers ?? 0) > 0);
  });
});
