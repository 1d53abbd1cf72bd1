/**
 * Crash safety with a real server process: kill -9 it 15 s into a broadcast (a torn fragment appended to the file on
 * top, as a write cut midway would leave), start it again on the same DATA_DIR: the recording is listed, ended, its
 * file cut back to its index, and it plays to within a segment of the kill.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startServerProcess } from '../hostile/server-process';
import { publishTestStream, run, waitFor } from '../testing/harness';

interface View {
  id: string;
  state: string;
  startedAt: string;
  durationSeconds: number;
  bytes: number;
  urls: { mp4: string; playlist: string };
}

async function list(http: string, id: string): Promise<View[]> {
  const res = await fetch(`${http}/api/streams/${id}/recordings`);
  return ((await res.json()) as { recordings: View[] }).recordings;
}

async function decodedFrames(target: string): Promise<number> {
  const p = run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', target], { timeoutMs: 60000 });
  assert.equal(await p.exited, 0, p.stderr());
  return Number(p.stdout().toString().trim());
}

describe('recording: kill -9 of the server', () => {
  it('after a restart the recording is listed, ended and plays to within a segment of the kill', async () => {
    const first = await startServerProcess();
    const dataDir = first.dataDir;
    let second: Awaited<ReturnType<typeof startServerProcess>> | null = null;
    const pub = (() => {
      let p: ReturnType<typeof publishTestStream> | null = null;
      return { start: (url: string) => (p = publishTestStream(url, { seconds: 60 })), kill: () => p?.kill('SIGKILL') };
    })();
    try {
      const s = await first.createStream('crash');
      pub.start(`${first.rtmpUrl}/${s.key}`);
      const [rec] = await waitFor('a recording', async () => {
        const l = await list(first.http, s.id);
        return l.length && l[0].bytes > 0 ? l : null;
      }, 20000);
      const startedAt = Date.parse(rec.startedAt);
      await new Promise((r) => setTimeout(r, Math.max(0, startedAt + 15000 - Date.now())));
      const killedAt = Date.now();
      first.child.kill('SIGKILL');
      await first.exited;
      await pub.kill();
      const file = path.join(dataDir, 'recordings', `${rec.id}.mp4`);
      // A write cut midway: the start of a fragment, no more.
      await appendFile(file, Buffer.concat([Buffer.from([0, 0, 0x40, 0, 0x6d, 0x6f, 0x6f, 0x66]), randomBytes(3000)]));

      second = await startServerProcess({ DATA_DIR: dataDir });
      const [after] = await list(second.http, s.id);
      assert.equal(after.id, rec.id);
      assert.equal(after.state, 'ended');
      assert.equal((await stat(file)).size, after.bytes, 'the file is cut back to what the index covers');
      const recorded = (killedAt - startedAt) / 1000;
      // Lost at most the segment being written (1 s target) and the one waiting for its next keyframe.
      assert.ok(after.durationSeconds >= recorded - 2.5 && after.durationSeconds <= recorded + 0.5, `kept ${after.durationSeconds} s of ${recorded.toFixed(1)} s`);
      const frames = await decodedFrames(after.urls.mp4);
      assert.ok(Math.abs(frames - after.durationSeconds * 25) <= 2, `${frames} frames for ${after.durationSeconds} s`);
      assert.match(await (await fetch(after.urls.playlist)).text(), /#EXT-X-ENDLIST/);
    } finally {
      await pub.kill();
      if (first.alive()) await first.stop();
      if (second) await second.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
