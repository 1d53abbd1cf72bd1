/** Which recording the watch page plays by itself, and where Rewind starts: no React, unit-tested (choose.test.ts). */
import type { Phase } from '../useStreamStatus';
import type { Recording } from './useRecordings';

/** "Rewind" starts this far before the newest recorded moment; the seek bar goes anywhere from there. */
export const REWIND_S = 30;

/**
 * The recording to replay without being asked: when the stream is not live (ended while watching, or never live
 * while this page was open), the newest one with something in it. Right after the end the one being finished is
 * listed first, still `recording`: wait for it rather than play the broadcast before. Null while a link's recording
 * is still being asked for (`pending`), or while the list is not known.
 */
export function autoReplay(phase: Phase, list: readonly Recording[] | null, pending: boolean): Recording | null {
  if (pending || !list || (phase !== 'ended' && phase !== 'waiting')) return null;
  if (phase === 'ended' && list[0]?.state === 'recording') return null;
  return list.find((r) => r.state !== 'recording' && r.durationSeconds > 0) ?? null;
}

/** The recording in progress (the one a live viewer can rewind into): the newest, while it is being written. */
export function inProgress(list: readonly Recording[] | null): Recording | null {
  return list?.[0]?.state === 'recording' ? list[0] : null;
}

/** Where Rewind starts in the recording in progress. */
export function rewindStart(rec: Recording): number {
  return Math.max(0, rec.durationSeconds - REWIND_S);
}
