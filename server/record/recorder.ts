/**
 * The recorder: appends the fMP4 the LL-HLS packager already makes (its init segment, then each complete segment's
 * moof+mdat parts) to one file per recording, RECORDINGS_DIR/<rid>.mp4, and indexes each segment in SQLite once its
 * bytes are in the file. No second mux: recording costs a write. A recorded stream is packaged from its publish to
 * its end (HlsService keepPackaging), whether or not anyone watches over HLS.
 *
 * One recording per broadcast: a publisher back within the grace period continues it (the segment carries the
 * discontinuity); a new broadcast after the end starts a new one. A change of init segment (new codec parameters)
 * cannot continue a single MP4 file, so it ends the recording and starts another.
 *
 * Writes are asynchronous and queued per recording (never on the media path); a write error (ENOSPC, EIO...) or a
 * queue past `maxQueuedBytes` (a disk slower than the stream) stops that recording with state 'failed' and the
 * reason, logged; the live stream is untouched. Recording is tried again (a new recording, from a keyframe segment)
 * `retryMs` later, so it resumes when space is back.
 */
import { open as fsOpen, mkdir, statfs, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Segment } from '../hls/segmenter';
import type { RecordingRow, RecordingStore, SegmentRow } from './store';
import { thumbnailFile } from './thumbnail';

/** What the recorder needs of an open file (node's FileHandle; tests inject failures). */
export interface RecordFile {
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
  truncate(len: number): Promise<void>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export interface RecorderLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RecorderOptions {
  dir: string;
  store: RecordingStore;
  log: RecorderLog;
  /** Most bytes of one recording waiting to be written; past it the recording fails (the disk is too slow). */
  maxQueuedBytes?: number;
  /** After a failure, the next try (a new recording) waits this long. */
  retryMs?: number;
  /** Create a recording's file (exclusive). Default: fs.promises.open(file, 'wx', 0o600). */
  openFile?: (file: string) => Promise<RecordFile>;
  /**
   * Keep at least this many bytes free on the recordings' filesystem (checked before a recording starts and every
   * few seconds): below it the recording stops as on ENOSPC, before the disk (and the database beside it) is full.
   */
  minFreeBytes?: number;
  /** Free bytes on the filesystem of `dir` (default: statfs). */
  freeBytes?: (dir: string) => Promise<number>;
  /** A recording started (its row exists): its thumbnail may be taken. */
  onStarted?: (id: string, streamId: string) => void;
  /** A recording finished (ended or failed): retention may run. */
  onFinished?: () => void;
  /** A recording ended and is playable (indexed, file closed): its row. */
  onReady?: (row: RecordingRow) => void;
  /** A segment's bytes are written and indexed. */
  onIndexed?: (bytes: number) => void;
  now?: () => number;
}

const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
const RETRY_MS = 10_000;
/** Data is flushed to the disk (fdatasync) at most this often, so a power cut loses little. */
const SYNC_EVERY_MS = 5_000;
/** Free space is checked at most this often per recording. */
const FREE_CHECK_MS = 5_000;

async function statfsFree(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Write all of `buffers` at `position`, going on after short writes. */
async function writeAll(file: RecordFile, buffers: Buffer[], position: number): Promise<void> {
  const rest = buffers.filter((b) => b.length > 0);
  let pos = position;
  while (rest.length) {
    const { bytesWritten } = await file.writev(rest, pos);
    if (bytesWritten <= 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' });
    pos += bytesWritten;
    let n = bytesWritten;
    while (rest.length && n >= rest[0].length) n -= rest.shift()!.length;
    if (n > 0) rest[0] = rest[0].subarray(n);
  }
}

function reasonOf(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return (e.message ?? String(err)).slice(0, 300);
}

class ActiveRecording {
  file: RecordFile | null = null;
  /** Every step (open, each write, the end) runs after the one before. */
  chain: Promise<void> = Promise.resolve();
  /** Where the next segment goes (bytes queued included). */
  nextOffset: number;
  queuedBytes = 0;
  seq = 0;
  failed = false;
  closed = false;
  lastSync = 0;
  lastFreeCheck = 0;

  constructor(
    readonly id: string,
    readonly streamId: string,
    readonly path: string,
    readonly run: string,
    readonly init: Buffer,
    /** A retry after a failure: one that gets no segment in is removed again, not kept as an empty failure. */
    readonly retry: boolean,
  ) {
    this.nextOffset = init.length;
  }
}

/** Per stream: the broadcast's recording (null: none yet, or stopped), and when to try again after a failure. */
interface Broadcast {
  rec: ActiveRecording | null;
  retryAt: number;
  /** Deleted by the operator while live: nothing more of this broadcast is recorded. */
  stopped: boolean;
  failures: number;
}

export class Recorder {
  private readonly broadcasts = new Map<string, Broadcast>();
  private readonly pending = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly openFile: (file: string) => Promise<RecordFile>;
  private closing = false;

  constructor(private readonly opts: RecorderOptions) {
    this.now = opts.now ?? Date.now;
    this.openFile = opts.openFile ?? ((file) => fsOpen(file, 'wx', 0o600));
  }

  static async prepareDir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }

  fileOf(id: string): string {
    return path.join(this.opts.dir, `${id}.mp4`);
  }

  thumbnailOf(id: string): string {
    return thumbnailFile(this.opts.dir, id);
  }

  /** The hub's publish event: a new broadcast (not a resumed one) starts a new recording at its first segment. */
  published(streamId: string, resumed: boolean): void {
    if (resumed && this.broadcasts.has(streamId)) return;
    const b = this.broadcasts.get(streamId);
    if (b?.rec) this.finish(b.rec, 'ended');
    this.broadcasts.set(streamId, { rec: null, retryAt: 0, stopped: false, failures: 0 });
  }

  /** The hub's end event: the broadcast is over. */
  ended(streamId: string): void {
    const b = this.broadcasts.get(streamId);
    this.broadcasts.delete(streamId);
    if (b?.rec) this.finish(b.rec, 'ended');
  }

  /** Is this recording being written now? */
  isActive(id: string): boolean {
    for (const b of this.broadcasts.values()) if (b.rec?.id === id) return true;
    return false;
  }

  /** A complete segment from the packager (HlsService onSegment). Never throws. */
  segment(streamId: string, run: string, seg: Segment, init: Buffer): void {
    try {
      this.onSegment(streamId, run, seg, init);
    } catch (err) {
      this.opts.log.error({ err, streamId }, 'recording a segment failed');
    }
  }

  private onSegment(streamId: string, run: string, seg: Segment, init: Buffer): void {
    if (this.closing || seg.parts.length === 0) return;
    let b = this.broadcasts.get(streamId);
    if (!b) {
      // Packaged without a publish event seen (cannot happen in the server; tests may drive it directly).
      b = { rec: null, retryAt: 0, stopped: false, failures: 0 };
      this.broadcasts.set(streamId, b);
    }
    if (b.stopped) return;
    let rec = b.rec;
    if (rec && (rec.run !== run || !rec.init.equals(init))) {
      // New codec parameters (or a new packager run): this file cannot hold them; the next recording can.
      this.finish(rec, 'ended');
      rec = b.rec = null;
    }
    if (!rec) {
      const independent = seg.parts[0].independent;
      if (!independent || this.now() < b.retryAt) return;
      rec = b.rec = this.begin(streamId, run, seg, init, b.failures > 0);
      if (!rec) return;
    }
    if (rec.failed) return;
    const data = seg.parts.map((p) => p.data);
    const size = data.reduce((n, d) => n + d.length, 0);
    const row: SegmentRow = {
      seq: rec.seq++,
      offset: rec.nextOffset,
      size,
      mediaTimeUs: Math.round(seg.startDts * 1000),
      durationUs: Math.round(seg.duration * 1e6),
      independent: seg.parts[0].independent,
      discontinuity: seg.discontinuity && rec.seq > 1,
    };
    rec.nextOffset += size;
    rec.queuedBytes += size;
    if (rec.queuedBytes > (this.opts.maxQueuedBytes ?? MAX_QUEUED_BYTES)) {
      this.fail(rec, `the disk is too slow: ${Math.round(rec.queuedBytes / 1048576)} MiB waiting to be written`);
      return;
    }
    const r = rec;
    this.step(r, async () => {
      if (this.now() - r.lastFreeCheck >= FREE_CHECK_MS) await this.checkFree(r);
      await writeAll(r.file!, data, row.offset);
      r.queuedBytes -= size;
      this.opts.store.addSegment(r.id, row);
      this.opts.onIndexed?.(size);
      const now = this.now();
      if (now - r.lastSync >= SYNC_EVERY_MS) {
        r.lastSync = now;
        await r.file!.datasync();
      }
    });
  }

  private begin(streamId: string, run: string, seg: Segment, init: Buffer, retry: boolean): ActiveRecording | null {
    let id: string;
    try {
      id = this.opts.store.create(streamId, Math.round(seg.programDateTime), init.length).id;
    } catch (err) {
      this.opts.log.error({ err, streamId }, `recording of ${streamId} not started: the index refused it`);
      this.broadcasts.get(streamId)!.retryAt = this.now() + (this.opts.retryMs ?? RETRY_MS);
      return null;
    }
    const rec = new ActiveRecording(id, streamId, this.fileOf(id), run, init, retry);
    rec.lastSync = this.now();
    this.opts.log.info({ streamId, recording: id }, `recording ${streamId} to ${rec.path}`);
    this.opts.onStarted?.(id, streamId);
    this.step(rec, async () => {
      await this.checkFree(rec);
      rec.file = await this.openFile(rec.path);
      await writeAll(rec.file, [init], 0);
    });
    return rec;
  }

  private async checkFree(rec: ActiveRecording): Promise<void> {
    rec.lastFreeCheck = this.now();
    const min = this.opts.minFreeBytes ?? 0;
    if (min <= 0) return;
    const free = await (this.opts.freeBytes ?? statfsFree)(this.opts.dir);
    if (free < min) {
      throw new Error(`the disk is almost full: ${Math.round(free / 1048576)} MiB free, RECORD_MIN_FREE_BYTES keeps ${Math.round(min / 1048576)} MiB`);
    }
  }

  /** Run `fn` after everything queued for `rec`; an error fails the recording. */
  private step(rec: ActiveRecording, fn: () => Promise<void>): void {
    rec.chain = rec.chain.then(async () => {
      if (rec.failed || rec.closed) return;
      try {
        await fn();
      } catch (err) {
        this.fail(rec, reasonOf(err));
      }
    });
    this.track(rec.chain);
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Stop the recording now: state 'failed' with `reason`; the file keeps what is indexed. */
  private fail(rec: ActiveRecording, reason: string): void {
    if (rec.failed || rec.closed) return;
    rec.failed = true;
    const b = this.broadcasts.get(rec.streamId);
    if (b?.rec === rec) {
      b.rec = null;
      b.failures++;
      b.retryAt = this.now() + Math.min(6, b.failures) * (this.opts.retryMs ?? RETRY_MS);
    }
    const indexed = this.opts.store.get(rec.id);
    const nothing = rec.retry && indexed !== undefined && indexed.bytes <= rec.init.length;
    if (nothing) this.opts.log.warn({ streamId: rec.streamId, recording: rec.id, reason }, `recording ${rec.streamId} still failing: ${reason}`);
    else this.opts.log.error({ streamId: rec.streamId, recording: rec.id, reason }, `recording ${rec.streamId} stopped: ${reason} (the live stream goes on)`);
    const done = (async () => {
      // Let a write in flight settle, then cut the file back to what the index covers.
      await rec.chain.catch(() => undefined);
      rec.closed = true;
      const row = this.opts.store.get(rec.id);
      if (rec.file) {
        if (row) await rec.file.truncate(row.bytes).catch(() => undefined);
        await rec.file.close().catch(() => undefined);
      }
      try {
        if (nothing) {
          // A retry that got nothing in: no empty failures piling up while the disk stays full.
          this.opts.store.delete(rec.id);
          await unlink(rec.path).catch(() => undefined);
        } else if (row) this.opts.store.finish(rec.id, 'failed', this.now(), reason);
      } catch (err) {
        this.opts.log.error({ err, recording: rec.id }, 'marking a failed recording failed');
      }
      this.opts.onFinished?.();
    })();
    this.track(done);
  }

  private finish(rec: ActiveRecording, state: 'ended'): void {
    const b = this.broadcasts.get(rec.streamId);
    if (b?.rec === rec) b.rec = null;
    if (rec.failed || rec.closed) return;
    this.step(rec, async () => {
      await rec.file?.datasync();
      rec.closed = true;
      await rec.file?.close();
      this.opts.store.finish(rec.id, state, this.now());
      this.opts.log.info({ streamId: rec.streamId, recording: rec.id }, `recording ${rec.streamId} ${state}`);
      const row = this.opts.store.get(rec.id);
      if (row && row.durationUs > 0) this.opts.onReady?.(row);
      this.opts.onFinished?.();
    });
  }

  /**
   * The operator deletes a recording: one being written stops (nothing more of that broadcast is recorded) and its
   * file goes once the writes in flight have settled. False when there is no such recording.
   */
  async delete(id: string): Promise<boolean> {
    for (const b of this.broadcasts.values()) {
      const rec = b.rec;
      if (rec?.id !== id) continue;
      b.rec = null;
      b.stopped = true;
      rec.failed = true;
      await rec.chain.catch(() => undefined);
      rec.closed = true;
      await rec.file?.close().catch(() => undefined);
    }
    const gone = this.opts.store.delete(id);
    for (const file of [this.fileOf(id), this.thumbnailOf(id)]) {
      await unlink(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.opts.log.warn({ err, recording: id }, 'removing a recording file failed');
      });
    }
    return gone;
  }

  /** Finish every recording (the drain); resolves when their files are closed and indexed. */
  async close(): Promise<void> {
    for (const b of this.broadcasts.values()) if (b.rec) this.finish(b.rec, 'ended');
    this.broadcasts.clear();
    this.closing = true;
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}
