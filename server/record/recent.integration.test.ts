/**
 * Recent broadcasts (GET /api/recordings) and recording thumbnails, with real parts: ffmpeg publishing over RTMP, the
 * real server taking a snapshot while live, ffprobe decoding the thumbnail; and a hostile client (bad cursor and
 * limit, a huge limit, unknown recordings). Also: the MP4 download plays in VLC (decoded to null), and VLC started at
 * a given time shows that moment (the broadcast's picture is a pixel clock; VLC's scene filter writes what it shows).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { operatorHeaders, publishTestStream, run, startTestServer, waitFor, waitLive, type TestServer } from '../testing/harness';
import { clockFilter, readClock } from '../testing/media';
import { checkMp4 } from '../testing/mp4-check';

/** cvlc with `args`; VLC refuses to run as root: then as nobody (HOME in `home`). */
function vlc(args: string[], home: string) {
  return process.getuid?.() === 0
    ? run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', `HOME=${home}`, 'cvlc', ...args], { timeoutMs: 60000 })
    : run('cvlc', args, { timeoutMs: 60000 });
}

interface Recent {
  id: string;
  streamId: string;
  title: string;
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number;
  thumbnail: string | null;
  urls: { playlist: string; mp4: string; watch: string };
}

async function recent(server: TestServer, query = ''): Promise<{ recordings: Recent[]; next: string | null }> {
  const res = await fetch(`${server.http}/api/recordings${query}`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as { recordings: Recent[]; next: string | null };
}

describe('recent broadcasts and thumbnails (real ffmpeg over RTMP)', () => {
  let server: TestServer;
  let tmp: string;
  before(async () => {
    server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '0' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'golive-recent-'));
  });
  after(async () => {
    await server.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('a finished broadcast is listed with its title, duration and a JPEG thumbnail taken while live; unlisted streams are not', async () => {
    const s = await server.createStream('Morning show');
    const hidden = await server.createStream('Secret');
    const patch = await fetch(`${server.http}/api/streams/${hidden.id}`, { method: 'PATCH', headers: operatorHeaders(), body: JSON.stringify({ listed: false }) });
    assert.equal(patch.status, 200);
    // The picture is a pixel clock (the second since the start), for the seek in VLC below.
    const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 8, extra: ['-vf', clockFilter()] });
    const pubHidden = publishTestStream(`${server.rtmpUrl}/${hidden.key}`, { seconds: 8 });
    await waitLive(server, s.id);
    // While it records, it is not among the recent broadcasts.
    assert.equal((await recent(server)).recordings.length, 0);
    assert.equal(await pub.exited, 0, pub.stderr());
    assert.equal(await pubHidden.exited, 0, pubHidden.stderr());
    const list = await waitFor('the broadcast listed', async () => {
      const l = (await recent(server)).recordings;
      return l.length > 0 ? l : null;
    }, 30000);
    assert.equal(list.length, 1, 'only the listed stream');
    const [r] = list;
    assert.equal(r.streamId, s.id);
    assert.equal(r.title, 'Morning show');
    assert.ok(r.endedAt);
    assert.ok(r.durationSeconds > 5 && r.durationSeconds < 10, String(r.durationSeconds));
    assert.equal(r.urls.watch, `${server.http}/watch/${s.id}?recording=${r.id}`);
    assert.deepEqual(Object.keys(r).sort(), ['durationSeconds', 'endedAt', 'id', 'startedAt', 'streamId', 'thumbnail', 'title', 'urls']);
    assert.equal(r.thumbnail, `${server.http}/api/recordings/${r.id}/thumbnail.jpg`);

    const res = await fetch(r.thumbnail!);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    assert.match(res.headers.get('cache-control') ?? '', /max-age=\d+/);
    const jpeg = Buffer.from(await res.arrayBuffer());
    assert.deepEqual([jpeg[0], jpeg[1]], [0xff, 0xd8], 'SOI');
    assert.deepEqual([jpeg[jpeg.length - 2], jpeg[jpeg.length - 1]], [0xff, 0xd9], 'EOI');
    const file = path.join(tmp, 'thumb.jpg');
    await writeFile(file, jpeg);
    const p = run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', file]);
    assert.equal(await p.exited, 0, p.stderr());
    assert.equal(p.stdout().toString().trim(), 'mjpeg,480,360');

    // The downloaded MP4 plays in VLC to its end: demuxed as MP4, H.264 and AAC decoded (to dummy outputs).
    const mp4 = path.join(tmp, 'download.mp4');
    const body = Buffer.from(await (await fetch(r.urls.mp4)).arrayBuffer());
    await writeFile(mp4, body, { mode: 0o644 });

    // What QuickTime needs of it (no QuickTime here): server/testing/mp4-check.ts, on the download and broken copies.
    const checked = checkMp4(body);
    assert.deepEqual(checked.problems, []);
    assert.deepEqual(checked.facts.tracks.map((t) => `${t.kind}:${t.codec}`).sort(), ['soun:mp4a', 'vide:avc1']);
    assert.deepEqual(checked.facts.topLevel.slice(0, 4), ['ftyp', 'moov', 'sidx', 'moof']);
    assert.ok(Math.abs(checked.facts.durationSeconds - r.durationSeconds) < 0.1, `mehd ${checked.facts.durationSeconds} s, listed ${r.durationSeconds} s`);
    assert.ok(checked.facts.fragments >= 7, String(checked.facts.fragments));
    const broken = (what: string, fix: (b: Buffer) => void, expect: RegExp) => {
      const copy = Buffer.from(body);
      fix(copy);
      const found = checkMp4(copy).problems;
      assert.ok(found.some((m) => expect.test(m)), `${what}: ${JSON.stringify(found)}`);
    };
    const at = (b: Buffer, type: string, nth = 0) => {
      let i = -1;
      for (let k = 0; k <= nth; k++) i = b.indexOf(type, i + 1, 'latin1');
      return i;
    };
    broken('major brand', (b) => b.write('xxxx', 8, 'latin1'), /major brand/);
    broken('no avcC', (b) => b.write('avcX', at(b, 'avcC'), 'latin1'), /without avcC/);
    broken('no esds', (b) => b.write('esdX', at(b, 'esds'), 'latin1'), /without esds/);
    broken('no stco', (b) => b.write('stcX', at(b, 'stco'), 'latin1'), /no stco/);
    broken('mfhd order', (b) => b.writeUInt32BE(1, at(b, 'mfhd', 1) + 8), /mfhd sequence/);
    broken('mehd', (b) => b.writeUInt32BE(b.readUInt32BE(at(b, 'mehd') + 12) * 2, at(b, 'mehd') + 12), /mehd says/);
    const videoId = checked.facts.tracks.find((t) => t.kind === 'vide')!.id;
    /** Where the k-th video traf's first sample flags are (first_sample_flags, else its sample_flags). */
    const firstFlagsOf = (b: Buffer, k: number) => {
      let tfhd = -1;
      for (let seen = -1, i = 0; seen < k; i++) if (b.readUInt32BE((tfhd = at(b, 'tfhd', i)) + 8) === videoId) seen++;
      const trun = b.indexOf('trun', tfhd, 'latin1');
      const flags = b.readUInt32BE(trun + 4) & 0xffffff;
      assert.ok(flags & 4 || flags & 0x400, 'sample flags in the trun');
      const first = trun + 12 + (flags & 1 ? 4 : 0);
      return flags & 4 ? first : first + (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0);
    };
    const unsync = (b: Buffer, pos: number) => b.writeUInt32BE(b.readUInt32BE(pos) | 0x10000, pos);
    broken('sync flag', (b) => unsync(b, firstFlagsOf(b, 0)), /does not start with a sync sample/);
    broken('a keyframe unflagged mid-file', (b) => {
      // The next fragment that starts with a keyframe (a sidx seek point) after the first: marked non-sync.
      let k = 1;
      while (b.readUInt32BE(firstFlagsOf(b, k)) & 0x10000) k++;
      unsync(b, firstFlagsOf(b, k));
    }, /claims to start with a keyframe/);
    broken('moov last', (b) => {
      // Swap the moov's and the first moof's types: a moof where moov was, the media before any moov.
      b.write('moof', at(b, 'moov'), 'latin1');
      b.write('moov', at(b, 'moof', 1), 'latin1');
    }, /moov after the media|moov without|no moov/);
    await chmod(tmp, 0o755);
    const player = vlc(['-I', 'dummy', '--aout=dummy', '--vout=dummy', '--play-and-exit', '-vv', mp4], tmp);
    const vlcCode = await player.exited;
    const log = player.stderr().toString() + player.stdout().toString();
    assert.equal(vlcCode, 0, log.slice(-2000));
    for (const line of ['using demux module "mp4"', 'using video decoder module "avcodec"', 'using audio decoder module', 'Received first picture', 'EOF reached']) {
      assert.ok(log.includes(line), `VLC: ${line}`);
    }
    assert.doesNotMatch(log, /mp4 demux error|cannot create decoder|no suitable decoder/i);

    // Seek: VLC started 5.5 s in shows second 5 of the clock from its first picture on (the recording starts at 0).
    assert.deepEqual(await readClock(mp4), { second: 0, clock: true }, 'the download starts at the start of the broadcast');
    const snaps = path.join(tmp, 'snaps');
    await mkdir(snaps, { mode: 0o777 });
    await chmod(snaps, 0o777);
    const seek = vlc(['-I', 'dummy', '--aout=dummy', '--vout=dummy', '--play-and-exit', '--no-audio', '--start-time=5.5', '--stop-time=6.5',
      '--video-filter=scene', '--scene-format=png', '--scene-ratio=1', `--scene-path=${snaps}`, '--scene-prefix=at', '--no-scene-replace', mp4], tmp);
    assert.equal(await seek.exited, 0, seek.stderr().slice(-2000));
    const shots = (await readdir(snaps)).filter((f) => f.endsWith('.png')).sort();
    assert.ok(shots.length > 0, 'VLC showed pictures');
    // The first pictures and the last one (an ffmpeg each, one at a time).
    const seen = [];
    for (const f of [...shots.slice(0, 3), ...shots.slice(3).slice(-1)]) seen.push(await readClock(path.join(snaps, f)));
    assert.deepEqual(seen[0], { second: 5, clock: true }, `VLC's first picture after --start-time=5.5: ${JSON.stringify(seen)}`);
    assert.ok(seen.every((c) => c.clock && (c.second === 5 || c.second === 6)), JSON.stringify(seen));

    // Renamed after the broadcast: the recording keeps the title it was broadcast under, in every listing.
    const rename = await fetch(`${server.http}/api/streams/${s.id}`, { method: 'PATCH', headers: operatorHeaders(), body: JSON.stringify({ title: 'Evening show' }) });
    assert.equal(rename.status, 200);
    assert.equal((await recent(server)).recordings[0].title, 'Morning show');
    const one = (await (await fetch(`${server.http}/api/recordings/${r.id}`)).json()) as { title: string };
    assert.equal(one.title, 'Morning show');
    const ofStream = (await (await fetch(`${server.http}/api/streams/${s.id}/recordings`)).json()) as { recordings: Array<{ title: string }> };
    assert.deepEqual(ofStream.recordings.map((x) => x.title), ['Morning show']);
    // A recording made before titles were kept (no title in its row) shows its stream's title.
    server.recording.store.db.prepare('UPDATE recordings SET title = NULL WHERE id = ?').run(r.id);
    assert.equal((await recent(server)).recordings[0].title, 'Evening show');
    assert.equal(((await (await fetch(`${server.http}/api/recordings/${r.id}`)).json()) as { title: string }).title, 'Evening show');

    // Deleting the recording deletes its thumbnail.
    const thumbFile = path.join(server.dataDir, 'recordings', `${r.id}.jpg`);
    assert.ok(existsSync(thumbFile));
    const del = await fetch(`${server.http}/api/recordings/${r.id}`, { method: 'DELETE', headers: operatorHeaders() });
    assert.equal(del.status, 204);
    assert.ok(!existsSync(thumbFile), 'the thumbnail file is gone');
    assert.equal((await fetch(r.thumbnail!)).status, 404);
    assert.equal((await recent(server)).recordings.length, 0);
  });

  it('pages newest first with a cursor; a huge limit is capped', async () => {
    const s = await server.createStream('Many');
    const db = server.recording.store.db;
    const insert = db.prepare(
      `INSERT INTO recordings (id, stream_id, started_at, ended_at, duration_us, bytes, init_size, state, error) VALUES (?, ?, ?, ?, 1000000, 100, 100, ?, NULL)`,
    );
    db.transaction(() => {
      for (let i = 0; i < 70; i++) insert.run(i.toString(16).padStart(16, '0'), s.id, 1_700_000_000_000 + i * 1000, 1_700_000_000_500 + i * 1000, 'ended');
      insert.run('f'.repeat(16), s.id, 1_800_000_000_000, null, 'recording');
    })();
    const capped = await recent(server, '?limit=100000');
    assert.equal(capped.recordings.length, 50);
    assert.ok(capped.recordings.every((r) => r.title === 'Many'), 'rows without a kept title: the stream title');
    assert.ok(capped.next);
    const seen: string[] = [];
    let before: string | null = null;
    do {
      const page: { recordings: Recent[]; next: string | null } = await recent(server, `?limit=7${before ? `&before=${encodeURIComponent(before)}` : ''}`);
      seen.push(...page.recordings.map((r) => r.id));
      before = page.next;
    } while (before);
    assert.equal(seen.length, 70, 'every ended one once, not the one recording');
    assert.equal(new Set(seen).size, 70);
    assert.deepEqual(seen, [...seen].sort().reverse(), 'newest first');
    assert.equal((await fetch(`${server.http}/api/recordings/${'0'.repeat(16)}/thumbnail.jpg`)).status, 404, 'no thumbnail taken');
  });

  it("a stream's recordings page newest first through the cursor: ties in start time, no duplicates or gaps, other streams apart", async () => {
    const s = await server.createStream('Paged');
    const other = await server.createStream('Other');
    const db = server.recording.store.db;
    const insert = db.prepare(
      `INSERT INTO recordings (id, stream_id, started_at, ended_at, duration_us, bytes, init_size, state, error) VALUES (?, ?, ?, ?, 1000000, 100, 100, ?, NULL)`,
    );
    // 250 rows, five to a start time (ties broken by id), states mixed; 40 of another stream in between.
    const ids: string[] = [];
    db.transaction(() => {
      for (let i = 0; i < 250; i++) {
        const id = `a${i.toString(16).padStart(15, '0')}`;
        ids.push(id);
        insert.run(id, s.id, 1_700_000_000_000 + Math.floor(i / 5) * 1000, null, i % 7 === 0 ? 'failed' : 'ended');
      }
      for (let i = 0; i < 40; i++) insert.run(`b${i.toString(16).padStart(15, '0')}`, other.id, 1_700_000_000_000 + i * 1000, null, 'ended');
    })();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Response = await fetch(`${server.http}/api/streams/${s.id}/recordings?limit=17${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.status, 200);
      const page = (await res.json()) as { recordings: Array<{ id: string; streamId: string }>; next: string | null };
      assert.ok(page.recordings.length === 17 || !page.next, 'a full page unless it is the last');
      assert.ok(page.recordings.every((r) => r.streamId === s.id));
      seen.push(...page.recordings.map((r) => r.id));
      cursor = page.next;
      pages++;
    } while (cursor && pages < 100);
    assert.equal(pages, Math.ceil(250 / 17));
    assert.deepEqual(seen, [...ids].reverse(), 'every row once, newest first (ties by id, descending)');

    // Hostile cursors: 400, never a page or a crash.
    for (const c of ['garbage', '..%2F..', 'zzzzzzzzzzzz.0000000000000000', 'zzzzzzzzzzz.0000000000000000', '-1.0000000000000000', '1.ZZZZZZZZZZZZZZZZ',
      `1.${'0'.repeat(15)}`, `1.${'0'.repeat(17)}`, '1.0000000000000000%00', "1.0000000000000000' OR 1=1 --", encodeURIComponent('(1,1)'), 'a'.repeat(5000), '%E0%A4%A']) {
      const res = await fetch(`${server.http}/api/streams/${s.id}/recordings?cursor=${c}`);
      assert.equal(res.status, 400, c);
      await res.arrayBuffer();
    }
    // A well-formed cursor past the oldest row: an empty last page.
    const past = await fetch(`${server.http}/api/streams/${s.id}/recordings?cursor=0.0000000000000000`);
    assert.deepEqual(await past.json(), { recordings: [], next: null });
    db.prepare('DELETE FROM recordings WHERE stream_id IN (?, ?)').run(s.id, other.id);
  });

  it('hostile: bad cursor and limit are 400, unknown recordings 404, no writes', async () => {
    for (const q of ['?limit=0', '?limit=-1', '?limit=abc', '?limit=1.5', '?limit=1e3', '?limit=99999999999', '?before=nope', '?before=zzzzzzzzzzzz.0000000000000000', `?before=${'a'.repeat(5000)}`]) {
      const res = await fetch(`${server.http}/api/recordings${q}`);
      assert.equal(res.status, 400, q);
      await res.arrayBuffer();
    }
    for (const p of [`${'9'.repeat(16)}/thumbnail.jpg`, '../../etc/passwd/thumbnail.jpg', 'ZZZZ/thumbnail.jpg', `${'9'.repeat(16)}/thumbnail.png`]) {
      const res = await fetch(`${server.http}/api/recordings/${p}`);
      assert.equal(res.status, 404, p);
      await res.arrayBuffer();
    }
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(`${server.http}/api/recordings`, { method });
      assert.equal(res.status, 405, method);
      await res.arrayBuffer();
    }
  });
});
