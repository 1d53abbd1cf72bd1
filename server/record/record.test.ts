import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { initSegment, mediaFragment } from '../hls/fmp4';
import { openDb } from '../store/db';
import { download, readInit, sidx, withDuration } from './mp4';
import { recordingPlaylist } from './playlist';
import { parseRange } from './range';
import { repairRecordings } from './repair';
import { parseCursor, cursorOf, RecordingStore, type SegmentRow } from './store';

const AVCC = Buffer.from('0142c01effe100196742c01ed9005005bb0110000003001000000303c0f162e48001000468cb8cb2', 'hex');
const ASC = Buffer.from([0x12, 0x10]);
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function init(): Buffer {
  return initSegment({
    video: { codec: 'h264', avcC: AVCC, width: 320, height: 240, timescale: 90000 },
    audio: { codec: 'aac', asc: ASC, sampleRate: 44100, channels: 2, timescale: 44100 },
  });
}

function fragment(seq: number, dts: number): Buffer {
  return mediaFragment(seq, [{ trackId: 1, baseDecodeTime: dts, samples: [{ dts, cts: 0, duration: 90000, keyframe: true, data: Buffer.alloc(500, seq) }] }]);
}

describe('recordings: Range header', () => {
  it('parses single byte ranges and refuses the rest', () => {
    assert.deepEqual(parseRange(undefined, 100), { kind: 'full' });
    assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'partial', start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'partial', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=90-1000', 100), { kind: 'partial', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'partial', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-1000', 100), { kind: 'partial', start: 0, end: 99 });
    assert.deepEqual(parseRange('items=0-5', 100), { kind: 'full' }, 'another unit is ignored');
    for (const bad of ['bytes=100-', 'bytes=5-4', 'bytes=-0', 'bytes=-', 'bytes=0-1,5-6', 'bytes=abc', 'bytes', 'bytes=1e3-', `bytes=${'9'.repeat(300)}-`, 'bytes=99999999999999999-']) {
      assert.deepEqual(parseRange(bad, 100), { kind: 'unsatisfiable' }, bad);
    }
    assert.deepEqual(parseRange(['bytes=0-1', 'bytes=2-3'], 100), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
  });
});

describe('recordings: MP4 download boxes', () => {
  const segs: SegmentRow[] = [
    { seq: 0, offset: 0, size: 1000, mediaTimeUs: 0, durationUs: 1_000_000, independent: true, discontinuity: false },
    { seq: 1, offset: 1000, size: 2000, mediaTimeUs: 1_000_000, durationUs: 1_000_000, independent: true, discontinuity: false },
    // A gap (a publisher that came back 3 s later): the reference before it reaches this start.
    { seq: 2, offset: 3000, size: 1500, mediaTimeUs: 5_000_000, durationUs: 2_000_000, independent: false, discontinuity: true },
  ];

  it('reads the movie and video track timescales from the init segment', () => {
    assert.deepEqual(readInit(init()), { movieTimescale: 1000, refTrackId: 1, refTimescale: 90000 });
  });

  it('puts mehd (the whole duration) first in mvex and keeps the rest of the init', () => {
    const i = init();
    const out = withDuration(i, 12_345_000);
    assert.equal(out.length, i.length + 20);
    const at = out.indexOf('mehd');
    assert.equal(out.readUInt32BE(at - 4), 20);
    assert.equal(out.toString('latin1', at - 8, at - 4), 'mvex', 'mehd is the first child of mvex');
    assert.equal(out.readUInt32BE(at + 4), 0x01000000, 'version 1');
    assert.equal(out.readBigUInt64BE(at + 8), 12345n);
    assert.equal(out.readUInt32BE(out.indexOf('moov') - 4), out.length - out.indexOf('moov') + 4, 'moov size follows');
    assert.equal(readInit(out).refTimescale, 90000);
  });

  it('sidx: one reference per segment, sizes, durations up to the next start, SAP flags', () => {
    const b = sidx(readInit(init()), segs);
    assert.equal(b.toString('latin1', 4, 8), 'sidx');
    assert.equal(b.readUInt32BE(0), b.length);
    assert.equal(b[8], 1, 'version 1');
    assert.equal(b.readUInt32BE(12), 1, 'video track');
    assert.equal(b.readUInt32BE(16), 90000);
    assert.equal(b.readBigUInt64BE(20), 0n);
    assert.equal(b.readUInt16BE(38), 3);
    const ref = (i: number) => ({ size: b.readUInt32BE(40 + i * 12), dur: b.readUInt32BE(44 + i * 12), sap: b.readUInt32BE(48 + i * 12) });
    assert.deepEqual(ref(0), { size: 1000, dur: 90000, sap: 0x90000000 });
    assert.deepEqual(ref(1), { size: 2000, dur: 4 * 90000, sap: 0x90000000 });
    assert.deepEqual(ref(2), { size: 1500, dur: 2 * 90000, sap: 0 });
  });

  it('groups segments when there are more than a sidx can list', () => {
    const many: SegmentRow[] = Array.from({ length: 70000 }, (_, i) => ({ seq: i, offset: i * 10, size: 10, mediaTimeUs: i * 1e6, durationUs: 1e6, independent: true, discontinuity: false }));
    const b = sidx(readInit(init()), many);
    assert.equal(b.readUInt16BE(38), 35000);
    assert.equal(b.readUInt32BE(40), 20);
  });

  it('the download is init (with mehd) + sidx + the file after its init', () => {
    const i = init();
    const rec = { id: 'a'.repeat(16), streamId: 's', startedAt: 0, endedAt: 1, durationUs: 4e6, bytes: i.length + 4500, initSize: i.length, state: 'ended' as const, error: null, thumbnail: false, title: null };
    const shifted = segs.map((s) => ({ ...s, offset: s.offset + i.length }));
    const d = download(i, rec, shifted);
    assert.equal(d.fileStart, i.length);
    assert.equal(d.fileEnd, i.length + 4500);
    assert.equal(d.length, d.header.length + 4500);
    assert.equal(d.header.toString('latin1', d.header.length - sidx(readInit(i), shifted).length + 4, d.header.length - sidx(readInit(i), shifted).length + 8), 'sidx');
  });
});

describe('recordings: playlist', () => {
  const rec = { id: 'b'.repeat(16), streamId: 's', startedAt: Date.UTC(2026, 0, 1), endedAt: null, durationUs: 0, bytes: 0, initSize: 800, state: 'recording' as const, error: null, thumbnail: false, title: null };
  const segs: SegmentRow[] = [
    { seq: 0, offset: 800, size: 100, mediaTimeUs: 0, durationUs: 1_000_000, independent: true, discontinuity: false },
    { seq: 1, offset: 900, size: 200, mediaTimeUs: 5_000_000, durationUs: 2_500_000, independent: true, discontinuity: true },
  ];
  it('EVENT while recording, VOD with ENDLIST after; byte ranges, map, discontinuity', () => {
    const live = recordingPlaylist(rec, segs, 'fragments.mp4');
    assert.match(live, /#EXT-X-PLAYLIST-TYPE:EVENT/);
    assert.doesNotMatch(live, /ENDLIST/);
    assert.match(live, /#EXT-X-TARGETDURATION:3\n/);
    assert.match(live, /#EXT-X-MAP:URI="fragments.mp4",BYTERANGE="800@0"/);
    assert.match(live, /#EXTINF:1.00000,\n#EXT-X-BYTERANGE:100@800\nfragments.mp4\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:05.000Z\n#EXTINF:2.50000,\n#EXT-X-BYTERANGE:200@900/);
    const vod = recordingPlaylist({ ...rec, state: 'ended' }, segs, 'fragments.mp4');
    assert.match(vod, /#EXT-X-PLAYLIST-TYPE:VOD/);
    assert.match(vod, /#EXT-X-ENDLIST\n$/);
  });
});

describe('recordings: index and crash repair', () => {
  it('cursors round-trip and refuse garbage', () => {
    const r = { id: '0123456789abcdef', startedAt: 1764000000000 } as Parameters<typeof cursorOf>[0];
    assert.deepEqual(parseCursor(cursorOf(r)), { startedAt: 1764000000000, id: '0123456789abcdef' });
    for (const bad of ['', 'x', '..', 'zz.0123456789abcdeg', `${'z'.repeat(12)}.0123456789abcdef`]) assert.equal(parseCursor(bad), null, bad);
  });

  it('cuts an open recording back to its last intact indexed segment and marks it ended', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-repair-'));
    const db = openDb(null);
    try {
      const store = new RecordingStore(db);
      const i = init();
      const frags = [0, 1, 2, 3].map((n) => fragment(n + 1, n * 90000));
      const rec = store.create('cam', 1_000_000, i.length);
      let offset = i.length;
      frags.forEach((f, n) => {
        store.addSegment(rec.id, { seq: n, offset, size: f.length, mediaTimeUs: n * 1e6, durationUs: 1e6, independent: true, discontinuity: false });
        offset += f.length;
      });
      const file = path.join(dir, `${rec.id}.mp4`);
      // The last indexed segment is torn (a power cut after the index was written): half of it is in the file.
      const whole = Buffer.concat([i, ...frags]);
      await writeFile(file, whole);
      await truncate(file, whole.length - Math.floor(frags[3].length / 2));
      // A finished recording is left alone; an orphan file goes.
      const done = store.create('cam', 500, i.length);
      store.finish(done.id, 'ended', 600);
      await writeFile(path.join(dir, `${done.id}.mp4`), i);
      await writeFile(path.join(dir, 'ffffffffffffffff.mp4'), i);
      await writeFile(path.join(dir, 'notes.txt'), 'kept');

      assert.equal(await repairRecordings(store, dir, quiet), 1);
      const fixed = store.get(rec.id)!;
      assert.equal(fixed.state, 'ended');
      assert.equal(fixed.bytes, i.length + frags[0].length + frags[1].length + frags[2].length);
      assert.equal(fixed.durationUs, 3e6);
      assert.equal(fixed.endedAt, 1_000_000 + 3000);
      assert.equal(store.segments(rec.id).length, 3);
      assert.equal((await stat(file)).size, fixed.bytes);
      assert.ok((await readFile(file)).equals(whole.subarray(0, fixed.bytes)));
      assert.equal(store.get(done.id)!.state, 'ended');
      await assert.rejects(stat(path.join(dir, 'ffffffffffffffff.mp4')));
      await stat(path.join(dir, 'notes.txt'));
      assert.equal(await repairRecordings(store, dir, quiet), 0, 'nothing left open');
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a recording whose file is gone is marked failed', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-repair-'));
    const db = openDb(null);
    try {
      const store = new RecordingStore(db);
      const rec = store.create('cam', 1, 900);
      await repairRecordings(store, dir, quiet);
      assert.equal(store.get(rec.id)!.state, 'failed');
      assert.match(store.get(rec.id)!.error ?? '', /lost/);
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
