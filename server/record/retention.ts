/**
 * Retention: finished recordings older than RECORD_RETENTION_DAYS go, then the oldest finished ones until all
 * recordings together fit in RECORD_MAX_BYTES. A recording being written is never deleted by retention.
 */
import type { Recorder } from './recorder';
import type { RecordingStore } from './store';

export interface RetentionOptions {
  /** 0: kept for ever. */
  retentionMs: number;
  /** 0: no limit. */
  maxBytes: number;
  now?: () => number;
}

/** Most recordings one pass deletes (the next pass goes on). */
const BATCH = 1000;

export async function applyRetention(store: RecordingStore, recorder: Recorder, opts: RetentionOptions): Promise<string[]> {
  const gone: string[] = [];
  const now = (opts.now ?? Date.now)();
  if (opts.retentionMs > 0) {
    for (const r of store.olderThan(now - opts.retentionMs, BATCH)) if (await recorder.delete(r.id)) gone.push(r.id);
  }
  if (opts.maxBytes > 0) {
    let total = store.totalBytes();
    while (total > opts.maxBytes && gone.length < BATCH) {
      const [oldest] = store.oldestDone(1);
      if (!oldest) break;
      await recorder.delete(oldest.id);
      gone.push(oldest.id);
      total -= oldest.bytes;
    }
  }
  return gone;
}
