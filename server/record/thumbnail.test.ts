/**
 * Recording thumbnails: taken once a few ms (here) after the start, retried a bounded number of times while the
 * snapshot fails, gone when the recording was deleted meanwhile, and nothing after close().
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDb } from '../store/db';
import { RecordingStore } from './store';
import { thumbnailFile, Thumbnails } from './thumbnail';

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0xff, 0xd9]);
const quiet = { info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('recording thumbnails', () => {
  let dir: string;
  let store: RecordingStore;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'golive-thumb-'));
    store = new RecordingStore(openDb(null));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes the JPEG and marks the row', async () => {
    const t = new Thumbnails({ dir, store, log: quiet, delayMs: 5 });
    const asked: string[] = [];
    t.setSource(async (id) => (asked.push(id), JPEG));
    const rec = store.create('cam', Date.now(), 100);
    t.started(rec.id, 'cam');
    await sleep(50);
    await t.close();
    assert.deepEqual(asked, ['cam']);
    assert.equal(store.get(rec.id)?.thumbnail, true);
    assert.ok(existsSync(thumbnailFile(dir, rec.id)));
  });

  it('retries a failing snapshot a bounded number of times, while the recording records', async () => {
    const t = new Thumbnails({ dir, store, log: quiet, delayMs: 5, tries: 3 });
    let calls = 0;
    t.setSource(async () => {
      calls++;
      if (calls === 2) throw new Error('ffmpeg died');
      return null;
    });
    const rec = store.create('cam', Date.now(), 100);
    t.started(rec.id, 'cam');
    await sleep(150);
    await t.close();
    assert.equal(calls, 3);
    assert.equal(store.get(rec.id)?.thumbnail, false);
    assert.ok(!existsSync(thumbnailFile(dir, rec.id)));
  });

  it('a recording deleted while its snapshot was taken leaves no file', async () => {
    const t = new Thumbnails({ dir, store, log: quiet, delayMs: 5 });
    const rec = store.create('cam', Date.now(), 100);
    t.setSource(async () => {
      store.delete(rec.id);
      return JPEG;
    });
    t.started(rec.id, 'cam');
    await sleep(50);
    await t.close();
    assert.ok(!existsSync(thumbnailFile(dir, rec.id)));
  });

  it('nothing is taken after close()', async () => {
    const t = new Thumbnails({ dir, store, log: quiet, delayMs: 20 });
    let calls = 0;
    t.setSource(async () => (calls++, JPEG));
    const rec = store.create('cam', Date.now(), 100);
    t.started(rec.id, 'cam');
    await t.close();
    t.started(rec.id, 'cam');
    await sleep(60);
    assert.equal(calls, 0);
  });
});
