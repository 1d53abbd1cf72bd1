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
  return { sent, texts, bufferedAmount: 0, send(b: Buffer, c?: { text: string }) { sent.push(b); if (c) texts.push(c.text); } };
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
    // The first flushes (init segment; the keyframe with the audio that waited for it) are concatenated per viewer;
    // every later one is shared.
    assert.ok(a.sent[0].equals(b.sent[0]) && a.sent[1].equals(b.sent[1]));
    a.sent.slice(2).forEach((m, i) => assert.equal(m, b.sent[i + 2], `message ${i + 2} is one shared Buffer`));
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
    const gopStart = packets.slice(0, half).findLast((p) => p.kind === 'video' && p.keyframe && !p.config)!;
    for (let i = 2; i < top.length; i += 2) {
      const frag = all.subarray(top[i].start - 8, top[i + 1].end);
      const f = parseFragment(frag);
      const video = f.get(1);
      if (first) {
        assert.equal(video?.tfdt, Math.round(gopStart.dts * 90), 'the first fragment is the GOP keyframe');
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

  test('video durations are exact on a jittery timeline: each frame ends where the next begins (MSE drops overlapped frames)', () => {
    const hub = new Hub();
    const enc = new FragmentEncoder();
    const sock = fakeSocket();
    hub.subscribe('s', new RealtimeViewer(sock, enc, new FanoutGroup(0), () => undefined));
    const pub = hub.publish('s', { kind: 'test', drop() {} });
    // A browser-made stream: frame intervals between ~25 and ~75 ms (MediaRecorder's timestamps), not a steady 40.
    const jitter = [0, 30, -12, 25, -18, 8, 35, -5, 14, -20];
    let n = 0;
    const sent = packets.map((p) => (p.kind === 'video' && !p.config ? { ...p, dts: p.dts + jitter[n++ % jitter.length] / 3 + (n % 3 === 0 ? 12 : 0) } : clone(p)));
    sent.forEach((p) => pub.packet(p));
    pub.end('done');
    hub.end('s', 'stream ended');
    const all = Buffer.concat(sock.sent);
    const top = boxes(all, 0, all.length);
    const video = top.flatMap((m, i) => (m.type === 'moof' ? [parseFragment(all.subarray(m.start - 8, top[i + 1].end)).get(1)] : [])).filter((v) => v !== undefined);
    const frames = sent.filter((p) => p.kind === 'video' && !p.config);
    assert.ok(video.length >= frames.length - 1, `video fragments ${video.length} of ${frames.length} frames`);
    const intervals = new Set<number>();
    for (let i = 1; i < video.length; i++) {
      intervals.add(video[i].tfdt - video[i - 1].tfdt);
      assert.equal(video[i - 1].tfdt + video[i - 1].duration, video[i].tfdt, `frame ${i - 1} ends where frame ${i} starts`);
    }
    assert.ok(intervals.size > 3, 'the timeline was jittery');
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
