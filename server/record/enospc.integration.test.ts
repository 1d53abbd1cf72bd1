/**
 * A real full disk: RECORDINGS_DIR on a small tmpfs (mounting one needs root, as CI runs; elsewhere these tests are
 * reported skipped, and the injected write error of record.integration.test.ts covers the same path). The recording
 * stops with ENOSPC while the live stream and an RTMP player go on; once space is back, recording resumes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectPlayer } from '../testing/rtmp-client';
import { publishTestStream, run, startTestServer, waitFor, waitLive, type TestServer } from '../testing/harness';

interface View {
  id: string;
  state: string;
  error: string | null;
  bytes: number;
  durationSeconds: number;
  urls: { mp4: string };
}

async function list(server: TestServer, id: string): Promise<View[]> {
  return ((await (await fetch(`${server.http}/api/streams/${id}/recordings`)).json()) as { recordings: View[] }).recordings;
}

function tryMount(dir: string, size: string): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('recording onto a full disk (tmpfs)', () => {
  let dir = '';
  let mounted = false;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'golive-full-'));
    mounted = tryMount(dir, '1m');
  });
  after(async () => {
    if (mounted) execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  });

  it('ENOSPC stops the recording (failed, with the reason), live goes on, and recording resumes when space is back', { skip: process.getuid?.() !== 0 && 'needs root to mount a tmpfs' }, async () => {
    assert.ok(mounted, 'mounting a tmpfs failed');
    // Leave ~100 KB: about 3 s of the test stream.
    const filler = path.join(dir, 'filler');
    await writeFile(filler, Buffer.alloc(1024 * 1024 - 100 * 1024));
    const server = await startTestServer({ RECORDINGS_DIR: dir, RECORD_MIN_FREE_BYTES: '0', PUBLISHER_GRACE_SECONDS: '1' }, { recordRetryMs: 3000 });
    try {
      const s = await server.createStream('full');
      const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 16 });
      await waitLive(server, s.id);
      const player = await connectPlayer(`${server.rtmpUrl}/${s.id}`);
      const [failed] = await waitFor('the recording failed', async () => {
        const l = await list(server, s.id);
        return l[0]?.state === 'failed' ? l : null;
      }, 20000);
      assert.match(failed.error ?? '', /ENOSPC|no space/i);
      const t0 = Date.now();
      const m0 = player.media.lastTimestamp;
      // Space is back: the next try (3 s after the failure here) records again, as a new recording.
      await rm(filler);
      const [resumed] = await waitFor('recording resumed', async () => {
        const l = await list(server, s.id);
        return l.length >= 2 && l[0].bytes > 50_000 ? l : null;
      }, 25000);
      assert.notEqual(resumed.id, failed.id);
      const advanced = player.media.lastTimestamp - m0;
      assert.ok(advanced >= 0.6 * (Date.now() - t0), `the RTMP player got ${advanced} ms of media in ${Date.now() - t0} ms`);
      assert.equal(await pub.exited, 0, pub.stderr());
      const done = await waitFor('resumed recording ended', async () => {
        const l = await list(server, s.id);
        return l[0]?.state === 'ended' ? l[0] : null;
      }, 15000);
      assert.ok(done.durationSeconds >= 5, `resumed for ${done.durationSeconds} s`);
      const p = run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', done.urls.mp4], { timeoutMs: 30000 });
      assert.equal(await p.exited, 0, p.stderr());
      assert.ok(Math.abs(Number(p.stdout().toString().trim()) - done.durationSeconds * 25) <= 2);
      player.socket.destroy();
    } finally {
      await server.stop();
    }
  });

  it('RECORD_MIN_FREE_BYTES stops a recording before the disk is full', { skip: process.getuid?.() !== 0 && 'needs root to mount a tmpfs' }, async () => {
    assert.ok(mounted, 'mounting a tmpfs failed');
    const server = await startTestServer({ RECORDINGS_DIR: dir, RECORD_MIN_FREE_BYTES: String(2 * 1024 * 1024), PUBLISHER_GRACE_SECONDS: '0' });
    try {
      const s = await server.createStream('min free');
      const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 3 });
      assert.equal(await pub.exited, 0, pub.stderr());
      const [failed] = await waitFor('the recording failed', async () => {
        const l = await list(server, s.id);
        return l[0]?.state === 'failed' ? l : null;
      }, 15000);
      assert.match(failed.error ?? '', /almost full/);
    } finally {
      await server.stop();
    }
  });
});
