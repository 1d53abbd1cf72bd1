import assert from 'node:assert/strict';
import { test } from 'node:test';
import { autoReplay, inProgress, REWIND_S, rewindStart } from './choose';
import type { Recording } from './useRecordings';

let n = 0;
const rec = (state: Recording['state'], durationSeconds = 10): Recording => {
  const id = (++n).toString(16).padStart(16, '0');
  return {
    id,
    streamId: 's',
    title: 'Show',
    startedAt: new Date(0).toISOString(),
    endedAt: state === 'recording' ? null : new Date(10_000).toISOString(),
    durationSeconds,
    bytes: 1000,
    state,
    error: state === 'failed' ? 'ENOSPC' : null,
    urls: { playlist: '', mp4: '', watch: '' },
  };
};

test('not live: the newest recording with something in it', () => {
  const [a, b] = [rec('ended'), rec('ended')];
  assert.equal(autoReplay('waiting', [a, b], false), a);
  assert.equal(autoReplay('ended', [a, b], false), a);
  const empty = rec('failed', 0);
  const partial = rec('failed', 4);
  assert.equal(autoReplay('waiting', [empty, partial, a], false), partial, 'a failed one plays up to what was written; an empty one is skipped');
});

test('live, loading, a link being asked for, no list or nothing recorded: nothing by itself', () => {
  const a = rec('ended');
  for (const phase of ['live', 'reconnecting', 'loading'] as const) assert.equal(autoReplay(phase, [a], false), null, phase);
  assert.equal(autoReplay('ended', [a], true), null);
  assert.equal(autoReplay('ended', null, false), null);
  assert.equal(autoReplay('ended', [], false), null);
  assert.equal(autoReplay('waiting', [rec('failed', 0)], false), null);
});

test('right after the end the recording being finished is waited for, not the one before played', () => {
  const [current, before] = [rec('recording'), rec('ended')];
  assert.equal(autoReplay('ended', [current, before], false), null);
  // Opened while not live with one left open (the server says so until it finishes): the finished one before.
  assert.equal(autoReplay('waiting', [current, before], false), before);
});

test('rewind: into the recording in progress only, from 30 s before its newest moment', () => {
  const current = rec('recording', 100);
  assert.equal(inProgress([current, rec('ended')]), current);
  assert.equal(inProgress([rec('ended')]), null);
  assert.equal(inProgress(null), null);
  assert.equal(rewindStart(current), 100 - REWIND_S);
  assert.equal(rewindStart(rec('recording', 12)), 0);
});
