/**
 * Recording thumbnails: one small JPEG per recording, taken while it is live (the live directory's snapshot of the
 * stream a few seconds after the recording starts), kept as RECORDINGS_DIR/<rid>.jpg and marked in the index. The
 * listing of recent broadcasts shows it; it goes with its recording (Recorder.delete, retention, repair).
 *
 * Bounded: one pending take per recording, a few tries, timers cleared and writes awaited on close().
 */
import { unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RecorderLog } from './recorder';
import type { RecordingStore } from './store';

/** A JPEG of the live stream now, or null when there is none (not live, no keyframe yet, no ffmpeg...). */
export type TakeSnapshot = (streamId: string) => Promise<Buffer | null>;

export interface ThumbnailOptions {
  dir: string;
  store: RecordingStore;
  log: RecorderLog;
  /** First try this long after the recording started (its first frames are often dark or still settling), ms. */
  delayMs?: number;
  /** Tries in all, `delayMs` apart. */
  tries?: number;
}

export function thumbnailFile(dir: string, rid: string): string {
  return path.join(dir, `${rid}.jpg`);
}

export class Thumbnails {
  private take: TakeSnapshot | null = null;
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly pending = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly opts: ThumbnailOptions) {}

  /** Where snapshots come from (the live directory's SnapshotService, made after the recorder). */
  setSource(take: TakeSnapshot): void {
    this.take = take;
  }

  /** A recording started: take its thumbnail soon. */
  started(rid: string, streamId: string): void {
    if (this.closed) return;
    this.schedule(rid, streamId, this.opts.tries ?? 3);
  }

  private schedule(rid: string, streamId: string, triesLeft: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(rid);
      const p = this.attempt(rid, streamId, triesLeft - 1);
      this.pending.add(p);
      void p.finally(() => this.pending.delete(p));
    }, this.opts.delayMs ?? 3000);
    timer.unref();
    this.timers.set(rid, timer);
  }

  private async attempt(rid: string, streamId: string, triesLeft: number): Promise<void> {
    const rec = this.opts.store.get(rid);
    if (this.closed || !rec || rec.thumbnail) return;
    let jpeg: Buffer | null = null;
    try {
      jpeg = this.take ? await this.take(streamId) : null;
    } catch (err) {
      this.opts.log.warn({ err, recording: rid }, 'recording thumbnail: the snapshot failed');
    }
    if (!jpeg) {
      if (triesLeft > 0 && !this.closed && this.opts.store.get(rid)?.state === 'recording') this.schedule(rid, streamId, triesLeft);
      return;
    }
    const file = thumbnailFile(this.opts.dir, rid);
    try {
      await writeFile(file, jpeg, { mode: 0o600 });
      // Deleted while the file was written: it goes too.
      if (!this.opts.store.setThumbnail(rid, true)) await unlink(file).catch(() => undefined);
    } catch (err) {
      this.opts.log.warn({ err, recording: rid }, 'recording thumbnail not written');
      await unlink(file).catch(() => undefined);
    }
  }

  /** Stop taking thumbnails; resolves when the writes in flight are done. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}
