import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppendQueue, type BufferLike } from './append-queue';

/** A SourceBuffer stand-in that is busy until `finish()` and throws when used while busy, as MSE does. */
function fakeBuffer() {
  const log: string[] = [];
  let listener: (() => void) | null = null;
  const sb: BufferLike & { updating: boolean; finish(): void; log: string[] } = {
    updating: false,
    log,
    appendBuffer(d) {
      if (this.updating) throw new Error('InvalidStateError');
      this.updating = true;
      log.push(`append ${(d as Uint8Array).byteLength}`);
    },
    remove(s, e) {
      if (this.updating) throw new Error('InvalidStateError');
      this.updating = true;
      log.push(`remove ${s}-${e}`);
    },
    changeType(t) {
      if (this.updating) throw new Error('InvalidStateError');
      log.push(`changeType ${t}`);
    },
    addEventListener: (_t, fn) => (listener = fn),
    removeEventListener: () => (listener = null),
    finish() {
      this.updating = false;
      listener?.();
    },
  };
  return sb;
}

test('operations run in order, one at a time, never while updating', () => {
  const sb = fakeBuffer();
  const appended: number[] = [];
  const q = new AppendQueue(sb, { maxBytes: 1000, onOverflow: () => assert.fail(), onError: (e) => assert.fail(String(e)), onAppended: () => appended.push(1) });
  q.push({ append: new Uint8Array(10) });
  q.push({ append: new Uint8Array(20) });
  q.push({ changeType: 'video/mp4; codecs="avc1.64001f"' });
  q.push({ remove: [0, 5] });
  q.push({ remove: [0, 6] });
  q.push({ append: new Uint8Array(30) });
  assert.deepEqual(sb.log, ['append 10']);
  assert.equal(q.waiting, 50);
  sb.finish();
  sb.finish();
  sb.finish();
  sb.finish();
  assert.deepEqual(sb.log, ['append 10', 'append 20', 'changeType video/mp4; codecs="avc1.64001f"', 'remove 0-5', 'append 30']);
  assert.equal(q.waiting, 0);
  assert.equal(appended.length, 3);
});

test('more than maxBytes waiting: overflow, and nothing more is taken', () => {
  const sb = fakeBuffer();
  let overflow = 0;
  const q = new AppendQueue(sb, { maxBytes: 100, onOverflow: () => overflow++, onError: () => assert.fail() });
  q.push({ append: new Uint8Array(60) }); // runs at once
  q.push({ append: new Uint8Array(60) });
  q.push({ append: new Uint8Array(60) });
  assert.equal(overflow, 1);
  q.push({ append: new Uint8Array(1) });
  sb.finish();
  assert.deepEqual(sb.log, ['append 60']);
});

test('a throwing SourceBuffer (QuotaExceeded, detached): onError once, the queue stops', () => {
  const sb = fakeBuffer();
  sb.appendBuffer = () => {
    throw new Error('QuotaExceededError');
  };
  const errors: unknown[] = [];
  const q = new AppendQueue(sb, { maxBytes: 100, onOverflow: () => assert.fail(), onError: (e) => errors.push(e) });
  q.push({ append: new Uint8Array(1) });
  q.push({ append: new Uint8Array(1) });
  assert.equal(errors.length, 1);
});
