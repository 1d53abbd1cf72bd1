/**
 * The recordings index in SQLite (tables `recordings` and `recording_segments`, server/store/db.ts): every recording
 * and each complete segment's place in its file, so that listing, playlists, downloads and seeking never read or scan
 * a media file. A segment row is written only after its bytes are in the file.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db';

export type RecordingState = 'recording' | 'ended' | 'failed';

export interface RecordingRow {
  id: string;
  streamId: string;
  /** Wall ms. */
  startedAt: number;
  endedAt: number | null;
  durationUs: number;
  /** Bytes of the file that the index covers: the init segment and every indexed segment. */
  bytes: number;
  initSize: number;
  state: RecordingState;
  error: string | null;
  /** A thumbnail (RECORDINGS_DIR/<rid>.jpg) was taken while live. */
  thumbnail: boolean;
  /**
   * The stream's title when the broadcast started. From `get`, `byStream` and `listed`: the stream's title for rows
   * recorded before titles were kept ('' when the stream is gone too); elsewhere null for those.
   */
  title: string | null;
}

/** A recording in the public listing: with a title. */
export interface ListedRecording extends RecordingRow {
  title: string;
}

export interface SegmentRow {
  seq: number;
  offset: number;
  size: number;
  /** Stream time of the segment's first sample, µs. */
  mediaTimeUs: number;
  durationUs: number;
  independent: boolean;
  discontinuity: boolean;
}

/** Recording ids: 16 lowercase hex digits, nothing else reaches a file name. */
export const RECORDING_ID_PATTERN = /^[0-9a-f]{16}$/;

export function newRecordingId(): string {
  return randomBytes(8).toString('hex');
}

interface RawRecording {
  id: string;
  stream_id: string;
  started_at: number;
  ended_at: number | null;
  duration_us: number;
  bytes: number;
  init_size: number;
  state: RecordingState;
  error: string | null;
  thumbnail: number;
  title: string | null;
}

interface RawSegment {
  seq: number;
  offset: number;
  size: number;
  media_time_us: number;
  duration_us: number;
  independent: number;
  discontinuity: number;
}

const COLUMNS = 'id, stream_id, started_at, ended_at, duration_us, bytes, init_size, state, error, thumbnail, title';
const INSERT_COLUMNS = 'id, stream_id, started_at, ended_at, duration_us, bytes, init_size, state, error, title';
/**
 * COLUMNS of `r` joined with its stream `s`, for what is shown: the title kept at the broadcast's start, else (rows from
 * before migration 6) the stream's.
 */
const SHOWN_COLUMNS = COLUMNS.split(', ')
  .map((c) => (c === 'title' ? "COALESCE(r.title, s.title, '') AS title" : `r.${c}`))
  .join(', ');

function toRecording(r: RawRecording): RecordingRow {
  return {
    id: r.id,
    streamId: r.stream_id,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    durationUs: r.duration_us,
    bytes: r.bytes,
    initSize: r.init_size,
    state: r.state,
    error: r.error,
    thumbnail: r.thumbnail === 1,
    title: r.title,
  };
}

function toSegment(r: RawSegment): SegmentRow {
  return {
    seq: r.seq,
    offset: r.offset,
    size: r.size,
    mediaTimeUs: r.media_time_us,
    durationUs: r.duration_us,
    independent: r.independent === 1,
    discontinuity: r.discontinuity === 1,
  };
}

export class RecordingStore {
  private readonly q;

  constructor(readonly db: Db) {
    this.q = {
      insert: db.prepare(
        // The title is the stream's as the broadcast starts (its first segment); later renames leave it.
        `INSERT INTO recordings (${INSERT_COLUMNS})
         VALUES (@id, @streamId, @startedAt, NULL, 0, @initSize, @initSize, 'recording', NULL, (SELECT title FROM streams WHERE id = @streamId))`,
      ),
      get: db.prepare(`SELECT ${SHOWN_COLUMNS} FROM recordings r LEFT JOIN streams s ON s.id = r.stream_id WHERE r.id = ?`),
      addSegment: db.prepare(
        `INSERT INTO recording_segments (recording_id, seq, offset, size, media_time_us, duration_us, independent, discontinuity)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      grow: db.prepare('UPDATE recordings SET bytes = ?, duration_us = duration_us + ? WHERE id = ?'),
      finish: db.prepare('UPDATE recordings SET state = ?, ended_at = ?, error = ? WHERE id = ?'),
      segments: db.prepare('SELECT seq, offset, size, media_time_us, duration_us, independent, discontinuity FROM recording_segments WHERE recording_id = ? ORDER BY seq'),
      lastSegments: db.prepare(
        'SELECT seq, offset, size, media_time_us, duration_us, independent, discontinuity FROM recording_segments WHERE recording_id = ? ORDER BY seq DESC LIMIT ?',
      ),
      dropSegmentsFrom: db.prepare('DELETE FROM recording_segments WHERE recording_id = ? AND seq >= ?'),
      totals: db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(duration_us), 0) AS d, MAX(offset + size) AS e FROM recording_segments WHERE recording_id = ?'),
      setTotals: db.prepare('UPDATE recordings SET bytes = ?, duration_us = ? WHERE id = ?'),
      open: db.prepare(`SELECT ${COLUMNS} FROM recordings WHERE state = 'recording'`),
      // The row-value cursor is one range of recordings_by_stream (stream_id, started_at), as in `listed`.
      byStream: db.prepare(
        `SELECT ${SHOWN_COLUMNS} FROM recordings r LEFT JOIN streams s ON s.id = r.stream_id
         WHERE r.stream_id = ? AND (r.started_at, r.id) < (?, ?) ORDER BY r.started_at DESC, r.id DESC LIMIT ?`,
      ),
      // The public listing: ended, playable recordings of listed streams (a stream deleted since: no title, not listed).
      // The row-value cursor seeks in recordings_by_start (started_at, then the key id): a deep page costs a page.
      listed: db.prepare(
        `SELECT ${SHOWN_COLUMNS} FROM recordings r JOIN streams s ON s.id = r.stream_id
         WHERE r.state = 'ended' AND r.duration_us > 0 AND s.listed = 1 AND (r.started_at, r.id) < (?, ?)
         ORDER BY r.started_at DESC, r.id DESC LIMIT ?`,
      ),
      setThumbnail: db.prepare('UPDATE recordings SET thumbnail = ? WHERE id = ?'),
      delete: db.prepare('DELETE FROM recordings WHERE id = ?'),
      olderThan: db.prepare(`SELECT ${COLUMNS} FROM recordings WHERE state != 'recording' AND started_at < ? ORDER BY started_at LIMIT ?`),
      oldestDone: db.prepare(`SELECT ${COLUMNS} FROM recordings WHERE state != 'recording' ORDER BY started_at LIMIT ?`),
      totalBytes: db.prepare('SELECT COALESCE(SUM(bytes), 0) AS b FROM recordings'),
      byState: db.prepare('SELECT state, COUNT(*) AS n FROM recordings GROUP BY state'),
    };
  }

  create(streamId: string, startedAt: number, initSize: number): RecordingRow {
    const id = newRecordingId();
    this.q.insert.run({ id, streamId, startedAt, initSize });
    return this.get(id)!;
  }

  get(id: string): RecordingRow | undefined {
    const r = this.q.get.get(id) as RawRecording | undefined;
    return r ? toRecording(r) : undefined;
  }

  /** The segment is in the file: index it and grow the recording, in one transaction. */
  addSegment(id: string, s: SegmentRow): void {
    this.db.transaction(() => {
      this.q.addSegment.run(id, s.seq, s.offset, s.size, s.mediaTimeUs, s.durationUs, s.independent ? 1 : 0, s.discontinuity ? 1 : 0);
      this.q.grow.run(s.offset + s.size, s.durationUs, id);
    })();
  }

  finish(id: string, state: 'ended' | 'failed', endedAt: number, error: string | null = null): void {
    this.q.finish.run(state, endedAt, error, id);
  }

  segments(id: string): SegmentRow[] {
    return (this.q.segments.all(id) as RawSegment[]).map(toSegment);
  }

  /** The newest `n` segments, newest first. */
  lastSegments(id: string, n: number): SegmentRow[] {
    return (this.q.lastSegments.all(id, n) as RawSegment[]).map(toSegment);
  }

  /** Forget the segments from `seq` on and recompute the recording's size and duration from what is left. */
  truncate(id: string, fromSeq: number): RecordingRow {
    this.db.transaction(() => {
      this.q.dropSegmentsFrom.run(id, fromSeq);
      const rec = this.get(id)!;
      const t = this.q.totals.get(id) as { n: number; d: number; e: number | null };
      this.q.setTotals.run(t.e ?? rec.initSize, t.d, id);
    })();
    return this.get(id)!;
  }

  /** Recordings still marked as recording (at start: left open by a crash). */
  open(): RecordingRow[] {
    return (this.q.open.all() as RawRecording[]).map(toRecording);
  }

  /** A stream's recordings, newest first, after the cursor (exclusive); `cursor` from `cursorOf`. */
  byStream(streamId: string, limit: number, cursor: { startedAt: number; id: string } | null): RecordingRow[] {
    const at = cursor?.startedAt ?? Number.MAX_SAFE_INTEGER;
    const id = cursor?.id ?? '';
    return (this.q.byStream.all(streamId, at, id, limit) as RawRecording[]).map(toRecording);
  }

  /** The public listing (newest first, after the cursor): ended recordings with media, of listed streams. */
  listed(limit: number, cursor: { startedAt: number; id: string } | null): ListedRecording[] {
    const at = cursor?.startedAt ?? Number.MAX_SAFE_INTEGER;
    const id = cursor?.id ?? '';
    return (this.q.listed.all(at, id, limit) as Array<RawRecording & { title: string }>).map((r) => ({ ...toRecording(r), title: r.title }));
  }

  /** Mark whether the recording has a thumbnail file; false when there is no such recording (deleted meanwhile). */
  setThumbnail(id: string, has: boolean): boolean {
    return this.q.setThumbnail.run(has ? 1 : 0, id).changes > 0;
  }

  delete(id: string): boolean {
    return this.q.delete.run(id).changes > 0;
  }

  /** Finished recordings started before `before` (wall ms), oldest first. */
  olderThan(before: number, limit: number): RecordingRow[] {
    return (this.q.olderThan.all(before, limit) as RawRecording[]).map(toRecording);
  }

  /** Finished recordings, oldest first. */
  oldestDone(limit: number): RecordingRow[] {
    return (this.q.oldestDone.all(limit) as RawRecording[]).map(toRecording);
  }

  totalBytes(): number {
    return (this.q.totalBytes.get() as { b: number }).b;
  }

  /** Recordings per state (every state, 0 included). */
  countsByState(): Record<RecordingState, number> {
    const c: Record<RecordingState, number> = { recording: 0, ended: 0, failed: 0 };
    for (const r of this.q.byState.all() as Array<{ state: RecordingState; n: number }>) if (r.state in c) c[r.state] = r.n;
    return c;
  }
}

/** An opaque list cursor: the last row's start and id. */
export function cursorOf(r: RecordingRow): string {
  return `${r.startedAt.toString(36)}.${r.id}`;
}

export function parseCursor(s: string): { startedAt: number; id: string } | null {
  const m = /^([0-9a-z]{1,11})\.([0-9a-f]{16})$/.exec(s);
  if (!m) return null;
  const startedAt = parseInt(m[1], 36);
  return Number.isSafeInteger(startedAt) ? { startedAt, id: m[2] } : null;
}
