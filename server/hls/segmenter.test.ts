import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type { MediaPacket } from '../codec/flv';
import { makeTestPackets } from '../testing/flv-file';
import { run } from '../testing/harness';
import { parseFragment, parseInit } from '../testing/mp4-reader';
import { partTarget, renderPlaylist, type PlaylistOptions } from './playlist';
import { MAX_KEPT_BYTES, MAX_SEGMENT_BYTES, placeAudioFrame, Segmenter } from './segmenter';

const OPTS = { segmentTarget: 1, partTarget: 0.2, keepSegments: 10 };
const POPTS: PlaylistOptions = { segmentTarget: 1, partTarget: 0.2, windowSegments: 7, partSegments: 3 };
const clone = (p: MediaPacket): MediaPacket => ({ ...p });

/** What ffmpeg says while decoding the whole fMP4 ('' when clean). */
async function decodeErrors(mp4: Buffer): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-seg-'));
  try {
    const f = path.join(dir, 'out.mp4');
    await writeFile(f, mp4);
    const dec = run('ffmpeg', ['-v', 'error', '-i', f, '-f', 'null', '-'], { timeoutMs: 30000 });
    assert.equal(await dec.exited, 0, dec.stderr());
    return dec.stderr().trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function attrs(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.slice(line.indexOf(':') + 1).matchAll(/([A-Z-]+)=("[^"]*"|[^,]*)/g)) out[m[1]] = m[2].replace(/^"|"$/g, '');
  return out;
}

describe('segmenter and playlist', () => {
  let packets: MediaPacket[];
  before(async () => {
    packets = await makeTestPackets({ seconds: 5, fps: 25, gop: 25 });
  });

  test('segments start on keyframes, parts stay within the part target, numbering and PDT are consistent', () => {
    const s = new Segmenter(OPTS);
    for (const p of packets) s.packet(clone(p));
    const done = s.segments.filter((x) => x.complete);
    assert.ok(done.length >= 3, `complete segments: ${done.length}`);
    done.forEach((seg, i) => {
      if (i > 0) assert.equal(seg.msn, done[i - 1].msn + 1);
      assert.equal(seg.parts[0].independent, true, `segment ${seg.msn} starts independent`);
      assert.ok(Math.abs(seg.duration - 1) < 0.05, `segment ${seg.msn} lasts ${seg.duration}`);
      const sum = seg.parts.reduce((n, p) => n + p.duration, 0);
      assert.ok(Math.abs(sum - seg.duration) < 0.002, `parts add up to the segment (${sum} vs ${seg.duration})`);
      seg.parts.forEach((p, j) => {
        assert.equal(p.index, j);
        assert.ok(p.duration <= 0.2 + 0.0011, `part ${seg.msn}.${j} lasts ${p.duration}`);
        if (j < seg.parts.length - 1) assert.ok(p.duration >= 0.85 * 0.2 - 0.001, `part ${seg.msn}.${j} too short: ${p.duration}`);
      });
      if (i > 0) assert.ok(seg.programDateTime > done[i - 1].programDateTime, 'PDT increases');
      if (i > 0) assert.ok(Math.abs(seg.programDateTime - done[i - 1].programDateTime - done[i - 1].duration * 1000) < 2, 'PDT follows media time');
    });
  });

  test('the playlist carries the LL-HLS tags and its invariants hold', () => {
    const s = new Segmenter(OPTS);
    for (const p of packets) s.packet(clone(p));
    const text = renderPlaylist(s, POPTS);
    const lines = text.trim().split('\n');
    assert.equal(lines[0], '#EXTM3U');
    const version = Number(lines.find((l) => l.startsWith('#EXT-X-VERSION:'))!.split(':')[1]);
    assert.ok(version >= 9);
    const td = Number(lines.find((l) => l.startsWith('#EXT-X-TARGETDURATION:'))!.split(':')[1]);
    const pt = Number(attrs(lines.find((l) => l.startsWith('#EXT-X-PART-INF:'))!)['PART-TARGET']);
    const sc = attrs(lines.find((l) => l.startsWith('#EXT-X-SERVER-CONTROL:'))!);
    assert.equal(sc['CAN-BLOCK-RELOAD'], 'YES');
    assert.ok(Number(sc['PART-HOLD-BACK']) >= 3 * pt - 1e-9);
    const two = attrs(renderPlaylist(s, { ...POPTS, partHoldBackParts: 2 }).split('\n').find((l) => l.startsWith('#EXT-X-SERVER-CONTROL:'))!);
    assert.equal(Number(two['PART-HOLD-BACK']), Math.round(2 * pt * 1000) / 1000, 'HLS_PART_HOLD_BACK_PARTS=2: the RFC minimum');
    assert.ok(Number(sc['CAN-SKIP-UNTIL']) >= 6 * td);
    const msn0 = Number(lines.find((l) => l.startsWith('#EXT-X-MEDIA-SEQUENCE:'))!.split(':')[1]);
    assert.equal(msn0, s.segments[0].msn);
    assert.ok(lines.some((l) => l.startsWith('#EXT-X-MAP:URI=')));
    const extinf = lines.filter((l) => l.startsWith('#EXTINF:')).map((l) => Number(l.slice(8, -1)));
    for (const d of extinf) assert.ok(Math.round(d) <= td);
    const parts = lines.filter((l) => l.startsWith('#EXT-X-PART:')).map(attrs);
    for (const p of parts) assert.ok(Number(p.DURATION) <= pt + 1e-9, `part ${p.URI} ${p.DURATION} > ${pt}`);
    const pdts = lines.filter((l) => l.startsWith('#EXT-X-PROGRAM-DATE-TIME:')).map((l) => Date.parse(l.slice(25)));
    assert.equal(pdts.length, s.segments.length);
    for (let i = 1; i < pdts.length; i++) assert.ok(pdts[i] > pdts[i - 1]);
    const hint = attrs(lines.find((l) => l.startsWith('#EXT-X-PRELOAD-HINT:'))!);
    const next = s.nextPart();
    assert.equal(hint.TYPE, 'PART');
    assert.equal(hint.URI, `${s.run}-part${next.msn}.${next.index}.m4s`);
    // The hinted part is not yet listed.
    assert.ok(!parts.some((p) => p.URI === hint.URI));
    assert.ok(!text.includes('#EXT-X-ENDLIST'));
    s.end();
    const ended = renderPlaylist(s, POPTS);
    assert.ok(ended.trim().endsWith('#EXT-X-ENDLIST'));
    assert.ok(!ended.includes('PRELOAD-HINT'));
  });

  test('a long playlist gets a delta update with EXT-X-SKIP', async () => {
    const long = await makeTestPackets({ seconds: 12, fps: 10, gop: 10, audio: false });
    const s = new Segmenter(OPTS);
    for (const p of long) s.packet(clone(p));
    const full = renderPlaylist(s, { ...POPTS, windowSegments: 9 });
    const delta = renderPlaylist(s, { ...POPTS, windowSegments: 9 }, { skip: true });
    const skipped = Number(/#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)/.exec(delta)?.[1]);
    assert.ok(skipped >= 1, delta);
    const segs = (t: string) => t.split('\n').filter((l) => l.endsWith('.m4s') && !l.startsWith('#'));
    assert.equal(segs(delta).length + skipped, segs(full).length);
    assert.deepEqual(segs(delta), segs(full).slice(skipped));
  });

  test('init + parts make a valid fMP4 that ffprobe decodes frame for frame', async () => {
    const s = new Segmenter(OPTS);
    for (const p of packets) s.packet(clone(p));
    s.end();
    const done = s.segments.filter((x) => x.complete);
    const file = Buffer.concat([s.init!, ...done.flatMap((seg) => seg.parts.map((p) => p.data))]);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-seg-'));
    try {
      const f = path.join(dir, 'out.mp4');
      await writeFile(f, file);
      const p = run('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,sample_rate,nb_read_frames', '-of', 'json', f], { timeoutMs: 30000 });
      assert.equal(await p.exited, 0, p.stderr());
      const streams = (JSON.parse(p.stdout().toString()) as { streams: Array<Record<string, string | number>> }).streams;
      const v = streams.find((x) => x.codec_name === 'h264')!;
      const a = streams.find((x) => x.codec_name === 'aac')!;
      assert.equal(v.width, 320);
      assert.equal(v.height, 240);
      assert.equal(a.sample_rate, '48000');
      const videoIn = packets.filter((x) => x.kind === 'video' && !x.config && x.data.length > 0).length;
      assert.equal(Number(v.nb_read_frames), videoIn, 'every video frame is in the output');
      assert.equal(await decodeErrors(file), '', 'decodes without errors');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a publisher that comes back with new parameters gets a discontinuity and a new init', async () => {
    const other = await makeTestPackets({ seconds: 3, size: '640x360', fps: 25, gop: 25 });
    const s = new Segmenter(OPTS);
    for (const p of packets) s.packet(clone(p));
    const v0 = s.initVersion;
    s.restart();
    const last = packets[packets.length - 1].dts;
    for (const p of other) s.packet({ ...p, dts: p.dts + last + 1000 });
    assert.equal(s.initVersion, v0 + 1);
    const text = renderPlaylist(s, { ...POPTS, windowSegments: 10 });
    assert.ok(text.includes('#EXT-X-DISCONTINUITY\n'), text);
    const maps = text.split('\n').filter((l) => l.startsWith('#EXT-X-MAP'));
    assert.equal(maps.length, 2);
  });
});

describe('segmenter robustness', () => {
  test('a huge timestamp jump starts a new timeline with a discontinuity instead of breaking the stream', async () => {
    const packets = await makeTestPackets({ seconds: 3, fps: 25, gop: 25 });
    const s = new Segmenter(OPTS);
    const media = packets.filter((p) => !p.config);
    const configs = packets.filter((p) => p.config);
    for (const p of [...configs, ...media]) s.packet({ ...p });
    const before = s.segments.length;
    for (const p of media) s.packet({ ...p, dts: p.dts + 50_000_000 });
    s.end();
    assert.ok(s.segments.length > before + 1, 'segments keep coming after the jump');
    const jumped = s.segments.find((seg) => seg.startDts >= 50_000_000);
    assert.ok(jumped?.discontinuity, 'the first segment after the jump is a discontinuity');
    assert.ok(renderPlaylist(s, { ...POPTS, windowSegments: 10 }).includes('#EXT-X-DISCONTINUITY'));
    // And backwards.
    for (const p of media) s.packet({ ...p, dts: p.dts + 1000 });
    assert.ok(s.segments.at(-1)!.startDts < 50_000_000);
  });

  test('audio with no video frames does not pile up', async () => {
    const packets = await makeTestPackets({ seconds: 2, fps: 25, gop: 25 });
    const s = new Segmenter(OPTS);
    for (const p of packets) s.packet({ ...p });
    const audio = packets.filter((p) => p.kind === 'audio' && !p.config);
    const last = packets.at(-1)!.dts;
    // 5000 audio frames (~107 s) and no video at all.
    for (let i = 0; i < 5000; i++) s.packet({ ...audio[i % audio.length], dts: last + 21 + i * 21 });
    const parts = s.segments.flatMap((seg) => seg.parts);
    assert.ok(parts.length >= 3, 'audio is written out in bounded parts');
  });
});

test('late frames (jitter) never carry a part past the part target: the part ends before the frame that would', async () => {
  const packets = await makeTestPackets({ seconds: 6, fps: 25, gop: 25 });
  const s = new Segmenter(OPTS);
  // Every 7th video frame comes 25 ms late (its own timestamp later, as a browser's capture jitter gives).
  let n = 0;
  for (const p of packets) s.packet(!p.config && p.kind === 'video' && ++n % 7 === 0 ? { ...p, dts: p.dts + 25 } : clone(p));
  s.end();
  const parts = s.segments.flatMap((seg) => seg.parts);
  assert.ok(parts.length >= 25, `${parts.length} parts`);
  for (const part of parts) assert.ok(part.duration <= OPTS.partTarget + 0.0011, `part ${part.msn}.${part.index} lasts ${part.duration}`);
  assert.equal(partTarget(s, POPTS), 0.2, 'PART-TARGET stays at its setting');
  const total = s.segments.reduce((t, seg) => t + seg.duration, 0);
  assert.ok(Math.abs(total - parts.reduce((t, p) => t + p.duration, 0)) < 0.01 && total > 5.5, `parts cover the stream (${total} s)`);
});

test('one late frame raises PART-TARGET only while its part is listed', async () => {
  const packets = await makeTestPackets({ seconds: 8, fps: 25, gop: 25, audio: false });
  // Segments kept in memory (10) outlast the parts listed (3 segments): only the listed ones count.
  const s = new Segmenter(OPTS);
  let shift = 0;
  let withGlitch = 0;
  for (const p of packets) {
    if (!p.config && p.dts === 400) shift = 500; // a 540 ms hole between two frames, early on
    s.packet({ ...p, dts: p.dts + shift });
    if (p.dts === 1600) withGlitch = partTarget(s, POPTS);
  }
  assert.ok(withGlitch > 0.5, `the long part is declared while listed (${withGlitch})`);
  assert.equal(partTarget(s, POPTS), 0.2, 'and forgotten once it left the window');
});

test('a long part older than the newest complete segment is no longer listed, so it does not hold PART-TARGET up', async () => {
  const packets = await makeTestPackets({ seconds: 4, fps: 25, gop: 25, audio: false });
  const s = new Segmenter(OPTS);
  let shift = 0;
  const states: Array<{ complete: number; pt: number; listsFirst: boolean }> = [];
  for (const p of packets) {
    if (!p.config && p.dts === 120) shift = 300; // the broadcast's first frames: a 340 ms gap in segment 0
    s.packet({ ...p, dts: p.dts + shift });
    const first = s.segments[0];
    if (!first) continue;
    const text = renderPlaylist(s, POPTS);
    states.push({ complete: s.segments.filter((x) => x.complete).length, pt: partTarget(s, POPTS), listsFirst: text.includes(`-part${first.msn}.0.m4s`) });
  }
  const at = (n: number) => states.filter((x) => x.complete === n);
  assert.ok(at(1).length > 0 && at(1).every((x) => x.listsFirst && x.pt > 0.3), 'while segment 0 is the newest complete one, its parts and their PART-TARGET are listed');
  assert.ok(at(2).length > 0 && at(2).every((x) => !x.listsFirst && x.pt === 0.2), `once a newer segment is complete, they are not: ${JSON.stringify(at(2)[0])}`);
  const text = renderPlaylist(s, POPTS);
  assert.ok(text.includes(`-part${s.segments[1].msn}.0.m4s`), 'the segments after it still list their parts');
});

test('placeAudioFrame keeps the AAC timeline gap-free: jitter snapped, gaps filled with whole frames, overlaps dropped, big jumps restart', () => {
  const R = 48_000;
  assert.deepEqual(placeAudioFrame(5000, null, R), { dts: 5000, fill: 0 });
  assert.deepEqual(placeAudioFrame(10_000 + 40, 10_000, R), { dts: 10_000, fill: 0 }, 'ms rounding jitter');
  assert.deepEqual(placeAudioFrame(10_000 + 2048, 10_000, R), { dts: 10_000, fill: 0 });
  assert.deepEqual(placeAudioFrame(10_000 + 4800, 10_000, R), { dts: 10_000 + 4 * 1024, fill: 4 }, '100 ms gap: 4 frames of fill');
  assert.equal(placeAudioFrame(10_000 - 4800, 10_000, R), null, 'overlap dropped');
  assert.deepEqual(placeAudioFrame(10_000 + 5 * R, 10_000, R), { dts: 10_000 + 5 * R, fill: 0 }, 'a real jump restarts');
});

test('audio that skips or bunches up still gives a continuous audio track (no holes for MSE to stall on)', async () => {
  const packets = await makeTestPackets({ seconds: 4, fps: 25, gop: 25 });
  // Audio timestamps drift: from 1 s on, +60 ms (an encoder gap); from 2.5 s on, back by 90 ms (a burst).
  const shifted = packets.map((p) => {
    if (p.kind !== 'audio' || p.config) return clone(p);
    const shift = p.dts >= 2500 ? -30 : p.dts >= 1000 ? 60 : 0;
    return { ...p, dts: p.dts + shift };
  });
  shifted.sort((a, b) => a.dts - b.dts);
  const s = new Segmenter(OPTS);
  for (const p of shifted) s.packet(p);
  s.end();
  const parts = s.segments.filter((x) => x.complete).flatMap((seg) => seg.parts.map((p) => p.data));
  const audioId = [...parseInit(s.init!)].find(([, t]) => t.kind === 'audio')![0];
  let end: number | null = null;
  let samples = 0;
  for (const [i, part] of parts.entries()) {
    const a = parseFragment(part).get(audioId);
    if (!a) continue;
    if (end !== null) assert.equal(a.tfdt, end, `part ${i}: audio starts where the previous part's audio ended`);
    assert.equal(a.duration, a.samples * 1024, `part ${i}: whole 1024-sample frames only`);
    end = a.tfdt + a.duration;
    samples += a.samples;
  }
  const audioIn = packets.filter((p) => p.kind === 'audio' && !p.config).length;
  // +60 ms: 2 frames of silence added; -90 ms: 4 frames dropped (the rest is within the 2-frame tolerance).
  assert.ok(samples !== audioIn && Math.abs(samples - audioIn) <= 6, `${samples} frames out for ${audioIn} in`);
  assert.equal(await decodeErrors(Buffer.concat([s.init!, ...parts])), '', 'the result still decodes cleanly');
});

test('audio that arrives in late bursts still lands in every part (video waits for it, boundedly)', async () => {
  const packets = await makeTestPackets({ seconds: 4, fps: 25, gop: 25 });
  // Audio is released only every 300 ms (all frames up to then at once), after the video of that moment.
  const media = packets.filter((p) => !p.config);
  const order: MediaPacket[] = packets.filter((p) => p.config).map(clone);
  const heldAudio: MediaPacket[] = [];
  let release = 300;
  for (const p of media) {
    if (p.kind === 'audio') heldAudio.push(clone(p));
    else order.push(clone(p));
    if (p.dts >= release) {
      order.push(...heldAudio.splice(0));
      release += 300;
    }
  }
  order.push(...heldAudio);
  const s = new Segmenter(OPTS);
  for (const p of order) s.packet(p);
  s.end();
  const init = parseInit(s.init!);
  const audioId = [...init].find(([, t]) => t.kind === 'audio')![0];
  const videoId = [...init].find(([, t]) => t.kind === 'video')![0];
  const parts = s.segments.flatMap((seg) => seg.parts);
  assert.ok(parts.length >= 15, `${parts.length} parts`);
  let audioEnd: number | null = null;
  for (const [i, part] of parts.entries()) {
    const f = parseFragment(part.data);
    assert.ok(f.get(videoId), `part ${i} has video`);
    const a = f.get(audioId);
    assert.ok(a && a.samples > 0, `part ${i} has audio`);
    if (audioEnd !== null) assert.equal(a.tfdt, audioEnd, `part ${i}: audio continuous`);
    audioEnd = a.tfdt + a.duration;
    assert.ok(part.duration <= OPTS.partTarget + 0.001, `part ${i} is ${part.duration} s`);
  }
  const videoIn = media.filter((p) => p.kind === 'video' && p.data.length > 0).length;
  const videoOut = parts.reduce((n, p) => n + (parseFragment(p.data).get(videoId)?.samples ?? 0), 0);
  assert.equal(videoOut, videoIn, 'no video frame lost while waiting');
});

test('video does not wait for audio that stopped: parts keep coming, without audio', async () => {
  const packets = await makeTestPackets({ seconds: 4, fps: 25, gop: 25 });
  const s = new Segmenter(OPTS);
  // Audio stops after 1 s.
  for (const p of packets) if (p.config || p.kind === 'video' || p.dts < 1000) s.packet(clone(p));
  const parts = s.segments.flatMap((seg) => seg.parts);
  const covered = parts.reduce((t, p) => t + p.duration, 0);
  assert.ok(covered > 3, `parts written up to ${covered.toFixed(2)} s of 4 s without audio (video waits at most 0.4 s)`);
});

test('lastPartGapMs: a segment-ending part that comes in the same burst as the part before waits; the cut stays the same', async () => {
  const packets = await makeTestPackets({ seconds: 4, fps: 25, gop: 26 }); // 1.04 s GOPs: five 200 ms parts and a 40 ms last one
  const GAP = 60;
  const paced = new Segmenter({ ...OPTS, lastPartGapMs: GAP });
  const plain = new Segmenter(OPTS);
  // When each part became visible (wall-clock ms), per segment.
  const watch = (s: Segmenter) => {
    const at = new Map<string, number>();
    s.onChange = () => {
      for (const seg of s.segments) for (const p of seg.parts) if (!at.has(`${p.msn}.${p.index}`)) at.set(`${p.msn}.${p.index}`, performance.now());
    };
    // Wall-clock spacing between each finished segment's last part and the part before it.
    return () => s.segments.filter((seg) => seg.complete && seg.parts.length > 1).map((seg) => at.get(`${seg.msn}.${seg.parts.length - 1}`)! - at.get(`${seg.msn}.${seg.parts.length - 2}`)!);
  };
  const pacedGaps = watch(paced);
  const plainGaps = watch(plain);
  // The stream arrives in 100 ms bursts (as a MediaRecorder's chunks do), twice as fast as real time.
  for (let t = 0; t <= 4000; t += 100) {
    for (const p of packets) {
      if (p.dts >= t - 100 && p.dts < t) {
        paced.packet(clone(p));
        plain.packet(clone(p));
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, GAP * 2));
  assert.ok(plainGaps().some((ms) => ms < 5), `without the gap a last part comes with the part before: ${plainGaps().map((x) => x.toFixed(0))}`);
  assert.ok(pacedGaps().length >= 3, 'segments still complete');
  for (const ms of pacedGaps()) assert.ok(ms >= GAP - 2, `last parts came ${pacedGaps().map((x) => x.toFixed(0))} ms after the one before`);
  paced.end();
  plain.end();
  // Same segments, same parts, same video: only when they were published differs.
  const shape = (s: Segmenter) => s.segments.map((seg) => seg.parts.map((p) => `${p.duration}${p.independent ? 'i' : ''}`).join(' '));
  assert.deepEqual(shape(paced), shape(plain));
});

test('lastPartGapMs also holds a last part that a late keyframe ends right after the part it cut short', async () => {
  const packets = await makeTestPackets({ seconds: 4, fps: 25, gop: 25 });
  const GAP = 60;
  const s = new Segmenter({ ...OPTS, lastPartGapMs: GAP });
  const at = new Map<string, number>();
  s.onChange = () => {
    for (const seg of s.segments) for (const p of seg.parts) if (!at.has(`${p.msn}.${p.index}`)) at.set(`${p.msn}.${p.index}`, performance.now());
  };
  // Each keyframe after the first comes 30 ms late: the part before it ends one frame early, and the last part is
  // that frame alone, cut by the same arrival.
  const late = (p: MediaPacket): MediaPacket => (!p.config && p.kind === 'video' && p.keyframe && p.dts > 0 ? { ...p, dts: p.dts + 30 } : clone(p));
  for (let t = 0; t <= 4000; t += 100) {
    for (const p of packets) if (p.dts >= t - 100 && p.dts < t) s.packet(late(p));
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, GAP * 2));
  const done = s.segments.filter((seg) => seg.complete && seg.parts.length > 1);
  assert.ok(done.length >= 3, 'segments complete');
  for (const seg of done) {
    const n = seg.parts.length;
    assert.ok(seg.parts.every((p) => p.duration <= 0.2 + 0.0011), `segment ${seg.msn}: ${seg.parts.map((p) => p.duration)}`);
    assert.ok(seg.parts[n - 2].duration < 0.2 - 0.01, `segment ${seg.msn}: the part before the last was cut short (${seg.parts.map((p) => p.duration)})`);
    const ms = at.get(`${seg.msn}.${n - 1}`)! - at.get(`${seg.msn}.${n - 2}`)!;
    assert.ok(ms >= GAP - 2, `segment ${seg.msn}: last part ${ms.toFixed(0)} ms after the one before`);
  }
  s.end();
});

test('flush (the publisher left) writes out video still waiting for its audio', async () => {
  const packets = await makeTestPackets({ seconds: 2, fps: 25, gop: 25 });
  const s = new Segmenter(OPTS);
  // The last 300 ms of audio never come: that video waits in the queue (less than AUDIO_WAIT_MS).
  const fed = packets.filter((p) => p.config || p.kind === 'video' || p.dts < 1700);
  for (const p of fed) s.packet(clone(p));
  s.flush();
  const init = parseInit(s.init!);
  const videoId = [...init].find(([, t]) => t.kind === 'video')![0];
  const written = s.segments.flatMap((seg) => seg.parts).reduce((n, p) => n + (parseFragment(p.data).get(videoId)?.samples ?? 0), 0);
  assert.equal(written, fed.filter((p) => p.kind === 'video' && !p.config && p.data.length > 0).length);
  assert.ok(s.segments.every((seg) => seg.complete));
});

test('dispose: a segment end held for lastPartGapMs never fires afterwards', async () => {
  const packets = await makeTestPackets({ seconds: 2, fps: 25, gop: 26 });
  const s = new Segmenter({ ...OPTS, lastPartGapMs: 50 });
  let changes = 0;
  s.onChange = () => changes++;
  // Up to just past the first segment-ending keyframe (1.04 s), in one burst: that keyframe is held.
  for (const p of packets) if (p.config || p.dts <= 1100) s.packet(clone(p));
  assert.equal(s.segments.filter((x) => x.complete).length, 0, 'the segment end is held');
  const before = changes;
  s.dispose();
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(changes, before);
  assert.equal(s.segments.filter((x) => x.complete).length, 0);
});

describe('segmenter bounds (hostile or unusual publishers)', () => {
  test('no keyframe after the first (intra refresh): segments are still cut, at most maxSegmentMs, INDEPENDENT only where a keyframe starts a part', async () => {
    const packets = await makeTestPackets({ seconds: 45, fps: 25, gop: 25 });
    // As an intra-refresh encoder: the first frame is the only keyframe.
    let first = true;
    const stream = packets.map((p) => {
      if (p.kind !== 'video' || p.config) return clone(p);
      const q = { ...p, keyframe: first };
      first = false;
      return q;
    });
    const s = new Segmenter({ ...OPTS, keepSegments: 100 });
    for (const p of stream) s.packet(p);
    s.end();
    const done = s.segments.filter((x) => x.complete);
    assert.ok(done.length >= 3, `segments: ${done.map((x) => x.duration.toFixed(2)).join(', ')}`);
    for (const seg of done) assert.ok(seg.duration <= 20.25, `segment ${seg.msn} lasts ${seg.duration} s`);
    const parts = done.flatMap((seg) => seg.parts);
    assert.equal(parts[0].independent, true, 'the part with the keyframe');
    assert.deepEqual(parts.slice(1).filter((p) => p.independent), [], 'no other part claims to be independent');
    for (const p of parts) assert.ok(p.duration <= 0.2 + 0.0011, `part ${p.msn}.${p.index} lasts ${p.duration}`);
    const text = renderPlaylist(s, { ...POPTS, windowSegments: 100 });
    assert.equal(text.split('\n').filter((l) => l.includes('INDEPENDENT=YES')).length, 1);
    assert.ok(Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(text)![1]) <= 20);
    // Still one continuous, decodable track.
    const file = Buffer.concat([s.init!, ...parts.map((p) => p.data)]);
    assert.equal(await decodeErrors(file), '', 'decodes without errors');
    assert.equal(s.maxSegmentMs, 20_000);
  });

  test('video frames that all carry the same timestamp: parts are cut at MAX_PART_SAMPLES samples', async () => {
    const packets = await makeTestPackets({ seconds: 1, fps: 25, gop: 25, audio: false });
    const configs = packets.filter((p) => p.config);
    const frames = packets.filter((p) => !p.config && p.kind === 'video');
    const s = new Segmenter(OPTS);
    for (const p of configs) s.packet(clone(p));
    s.packet(clone(frames[0]));
    for (let i = 0; i < 10_000; i++) s.packet({ ...frames[1], dts: frames[0].dts });
    const parts = s.segments.flatMap((seg) => seg.parts);
    assert.ok(parts.length >= 4, `parts written: ${parts.length}`);
    for (const p of parts) {
      const video = [...parseFragment(p.data).values()][0];
      assert.ok(video.samples <= 2000, `part ${p.msn}.${p.index}: ${video.samples} samples`);
    }
  });

  test('big frames at one timestamp with an audio track that sends nothing: the frames waiting for audio stay under 4 MiB', async () => {
    const packets = await makeTestPackets({ seconds: 1, fps: 25, gop: 25, audio: true });
    const configs = packets.filter((p) => p.config);
    const key = packets.find((p) => !p.config && p.kind === 'video')!;
    const big = Buffer.alloc(256 * 1024, 1);
    const s = new Segmenter({ ...OPTS, keepSegments: 100 });
    for (const p of configs) s.packet(clone(p));
    s.packet(clone(key));
    let most = 0;
    for (let i = 0; i < 200; i++) {
      s.packet({ ...key, keyframe: false, data: big, dts: key.dts + 40 });
      most = Math.max(most, s.queuedVideoBytes);
    }
    assert.ok(most > 0, 'frames did wait for audio');
    assert.ok(most <= 4 * 1024 * 1024 + big.length, `most bytes waiting for audio: ${most}`);
    assert.ok(s.segments.flatMap((seg) => seg.parts).length >= 2, 'the frames went on into parts');
  });

  test('big frames at one timestamp: parts stay near 4 MiB, segments near 8 MiB, and the kept window near 24 MiB', async () => {
    const packets = await makeTestPackets({ seconds: 1, fps: 25, gop: 25, audio: false });
    const configs = packets.filter((p) => p.config);
    const key = packets.find((p) => !p.config && p.kind === 'video')!;
    const big = Buffer.alloc(100 * 1024, 1);
    const s = new Segmenter({ ...OPTS, keepSegments: 100 });
    for (const p of configs) s.packet(clone(p));
    s.packet(clone(key));
    // 80 MB in 800 frames, all at the keyframe's timestamp.
    for (let i = 0; i < 800; i++) s.packet({ ...key, keyframe: false, data: big, dts: key.dts });
    const keptComplete = s.segments.filter((x) => x.complete).reduce((n, seg) => n + seg.parts.reduce((m, p) => m + p.data.length, 0), 0);
    assert.ok(keptComplete <= MAX_KEPT_BYTES + MAX_SEGMENT_BYTES + 4 * 1024 * 1024, `complete segments kept: ${keptComplete} bytes`);
    assert.ok(s.segments.filter((x) => x.complete).length >= 3, 'at least three segments stay in the window');
    const parts = s.segments.flatMap((seg) => seg.parts);
    assert.ok(parts.length >= 4, `parts kept: ${parts.length}`);
    for (const p of parts) assert.ok(p.data.length <= 4 * 1024 * 1024 + big.length + 4096, `part ${p.msn}.${p.index}: ${p.data.length} bytes`);
    const done = s.segments.filter((x) => x.complete);
    assert.ok(done.length >= 2, `segments cut: ${done.length}`);
    for (const seg of done) {
      const bytes = seg.parts.reduce((n, p) => n + p.data.length, 0);
      assert.ok(bytes <= MAX_SEGMENT_BYTES + 4 * 1024 * 1024 + big.length + 4096, `segment ${seg.msn}: ${bytes} bytes`);
    }
  });
});
