/**
 * Which MediaSource the realtime player uses. ManagedMediaSource (Safari 17.1+ on iOS, where plain MediaSource is
 * missing) cannot be exercised in the e2e browser: Debian's Chromium has none, even with
 * --enable-blink-features=ManagedMediaSource or experimental web platform features (checked with Chromium 156). So the
 * choice is tested here against stand-in globals.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { mediaSourceCtor } from './media';

const g = globalThis as Record<string, unknown>;
const saved = { ManagedMediaSource: g.ManagedMediaSource, MediaSource: g.MediaSource };
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete g[k];
    else g[k] = v;
  }
});

class FakeMediaSource {}
class FakeManaged {}

test('ManagedMediaSource where the browser has it, even beside MediaSource (iPadOS, macOS Safari)', () => {
  g.MediaSource = FakeMediaSource;
  g.ManagedMediaSource = FakeManaged;
  assert.deepEqual(mediaSourceCtor(), { Ctor: FakeManaged, managed: true });
  delete g.MediaSource; // iPhone: ManagedMediaSource only
  assert.deepEqual(mediaSourceCtor(), { Ctor: FakeManaged, managed: true });
});

test('MediaSource otherwise; neither: null (the page falls back to LL-HLS)', () => {
  delete g.ManagedMediaSource;
  g.MediaSource = FakeMediaSource;
  assert.deepEqual(mediaSourceCtor(), { Ctor: FakeMediaSource, managed: false });
  delete g.MediaSource;
  assert.equal(mediaSourceCtor(), null);
});
