/**
 * Crash repair, at start, before anything records: a recording still marked 'recording' was left open by a crash
 * (kill -9, power cut). Its file is cut back to the end of its newest indexed segment whose bytes are really there
 * (a chain of moof/mdat boxes that ends exactly at the segment's end: a torn or unwritten tail is dropped), the index
 * forgets any segment past that, and it is marked ended. Files in RECORDINGS_DIR that no recording names (a crash
 * between a delete's two steps) are removed.
 */
import { open, readdir, stat, truncate, unlink } from 'node:fs/promises';
import path from 'node:path';
import { RECORDING_ID_PATTERN, type RecordingStore, type SegmentRow } from './store';
import type { RecorderLog } from './recorder';

type Handle = Awaited<ReturnType<typeof open>>;

/** Do the bytes of `seg` in the file form whole moof/mdat boxes, ending exactly at its end? */
async function segmentIntact(fh: Handle, seg: SegmentRow, fileSize: number): Promise<boolean> {
  const end = seg.offset + seg.size;
  if (end > fileSize) return false;
  const head = Buffer.alloc(8);
  let pos = seg.offset;
  let boxes = 0;
  while (pos < end) {
    const { bytesRead } = await fh.read(head, 0, 8, pos);
    if (bytesRead < 8) return false;
    const size = head.readUInt32BE(0);
    const type = head.toString('latin1', 4, 8);
    if (size < 8 || (type !== 'moof' && type !== 'mdat')) return false;
    pos += size;
    if (++boxes > 100_000) return false;
  }
  return pos === end && boxes > 0;
}

export async function repairRecordings(store: RecordingStore, dir: string, log: RecorderLog): Promise<number> {
  let repaired = 0;
  for (const rec of store.open()) {
    const file = path.join(dir, `${rec.id}.mp4`);
    try {
      const size = await stat(file).then(
        (s) => s.size,
        () => -1,
      );
      if (size < rec.initSize) {
        store.truncate(rec.id, 0);
        store.finish(rec.id, 'failed', rec.startedAt, 'the recording file was lost (server stopped abruptly)');
        log.warn({ recording: rec.id }, `recording ${rec.id}: file missing after a crash; marked failed`);
        continue;
      }
      const fh = await open(file, 'r');
      let keep: SegmentRow | null = null;
      try {
        // Newest first: the first intact one is where the recording ends (earlier ones were written before it).
        for (const seg of store.lastSegments(rec.id, 1_000_000)) {
          if (await segmentIntact(fh, seg, size)) {
            keep = seg;
            break;
          }
        }
      } finally {
        await fh.close();
      }
      const fixed = store.truncate(rec.id, keep ? keep.seq + 1 : 0);
      if (size > fixed.bytes) await truncate(file, fixed.bytes);
      const endedAt = rec.startedAt + (keep ? Math.round((keep.mediaTimeUs + keep.durationUs - (store.segments(rec.id)[0]?.mediaTimeUs ?? 0)) / 1000) : 0);
      store.finish(rec.id, 'ended', endedAt, null);
      repaired++;
      log.warn(
        { recording: rec.id, streamId: rec.streamId, bytes: fixed.bytes, droppedBytes: Math.max(0, size - fixed.bytes) },
        `recording ${rec.id} of ${rec.streamId} repaired after an abrupt stop: kept ${(fixed.durationUs / 1e6).toFixed(1)} s`,
      );
    } catch (err) {
      log.error({ err, recording: rec.id }, `recording ${rec.id}: repair failed`);
      try {
        store.finish(rec.id, 'failed', rec.startedAt, `repair failed: ${(err as Error).message}`.slice(0, 300));
      } catch {
        /* the index itself is failing: the next start tries again */
      }
    }
  }
  // Files no recording names.
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return repaired;
  }
  for (const name of names) {
    const m = /^([0-9a-f]{16})\.(?:mp4|jpg)$/.exec(name);
    if (m && RECORDING_ID_PATTERN.test(m[1]) && !store.get(m[1])) await unlink(path.join(dir, name)).catch(() => undefined);
  }
  return repaired;
}
