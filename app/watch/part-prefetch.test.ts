import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HlsConfig, LoaderCallbacks, LoaderConfiguration, LoaderContext, LoaderStats } from 'hls.js';
import { partPrefetch, PartPrefetcher, preloadHintUrl, type FetchPart, type LoaderClass, type PrefetchedPart } from './part-prefetch';

const PL_URL = 'http://127.0.0.1:3000/hls/abc/index.m3u8?_HLS_msn=5&_HLS_part=2';

function playlist(hint: string | null): string {
  return [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    '#EXT-X-TARGETDURATION:1',
    '#EXT-X-PART-INF:PART-TARGET=0.2',
    '#EXT-X-MAP:URI="r1/init.mp4"',
    '#EXT-X-PART:DURATION=0.2,URI="r1/5.1.m4s",INDEPENDENT=YES',
    '#EXT-X-PART:DURATION=0.2,URI="r1/5.2.m4s"',
    ...(hint === null ? [] : [hint]),
    '',
  ].join('\n');
}

describe('preloadHintUrl', () => {
  it('resolves a TYPE=PART hint against the playlist URL', () => {
    assert.equal(preloadHintUrl(playlist('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="r1/5.3.m4s"'), PL_URL), 'http://127.0.0.1:3000/hls/abc/r1/5.3.m4s');
    assert.equal(preloadHintUrl(playlist('#EXT-X-PRELOAD-HINT:URI="/x/p.m4s",TYPE=PART'), PL_URL), 'http://127.0.0.1:3000/x/p.m4s');
  });
  it('ignores no hint, a MAP hint, a byte-range hint, and a hint without URI', () => {
    assert.equal(preloadHintUrl(playlist(null), PL_URL), null);
    assert.equal(preloadHintUrl(playlist('#EXT-X-PRELOAD-HINT:TYPE=MAP,URI="r2/init.mp4"'), PL_URL), null);
    assert.equal(preloadHintUrl(playlist('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="all.mp4",BYTERANGE-START=100'), PL_URL), null);
    assert.equal(preloadHintUrl(playlist('#EXT-X-PRELOAD-HINT:TYPE=PART'), PL_URL), null);
  });
});

/** A fetcher whose responses the test settles by hand. */
function manualFetch() {
  const calls: Array<{ url: string; signal: AbortSignal; resolve: (p: PrefetchedPart | null) => void }> = [];
  const fetcher: FetchPart = (url, signal) =>
    new Promise((resolve) => {
      calls.push({ url, signal, resolve });
      signal.addEventListener('abort', () => resolve(null));
    });
  return { calls, fetcher };
}

const part = (n: number): PrefetchedPart => ({ data: new Uint8Array(n).buffer, first: performance.now(), end: performance.now() });
const hintFor = (i: number) => playlist(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="r1/5.${i}.m4s"`);
const urlFor = (i: number) => `http://127.0.0.1:3000/hls/abc/r1/5.${i}.m4s`;

describe('PartPrefetcher', () => {
  it('fetches each hinted part once and hands it over once', async () => {
    const { calls, fetcher } = manualFetch();
    const p = new PartPrefetcher(fetcher);
    p.onPlaylist(hintFor(3), PL_URL);
    p.onPlaylist(hintFor(3), PL_URL); // the same hint again (a reload that returned the same playlist)
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, urlFor(3));
    const taken = p.take(urlFor(3));
    assert.ok(taken);
    assert.equal(p.take(urlFor(3)), null);
    assert.equal(p.take(urlFor(4)), null);
    calls[0].resolve(part(10));
    assert.equal((await taken)?.data.byteLength, 10);
    assert.deepEqual(p.counts, { started: 1, used: 1, failed: 0, dropped: 0, stoppedBy: null });
  });

  it('keeps only the newest few, aborting the oldest; stop() aborts the rest and starts no more', async () => {
    const { calls, fetcher } = manualFetch();
    const p = new PartPrefetcher(fetcher, 2);
    for (let i = 3; i <= 6; i++) p.onPlaylist(hintFor(i), PL_URL);
    assert.equal(p.size, 2);
    assert.deepEqual(
      calls.map((c) => c.signal.aborted),
      [true, true, false, false],
    );
    assert.equal(p.take(urlFor(3)), null);
    assert.equal(p.counts.dropped, 2);
    p.stop();
    assert.equal(calls[3].signal.aborted, true);
    p.onPlaylist(hintFor(7), PL_URL);
    assert.equal(calls.length, 4);
    assert.equal(p.size, 0);
  });

  it('counts a handed-over prefetch that gave nothing (no response, or no bytes) as failed', async () => {
    const { calls, fetcher } = manualFetch();
    const p = new PartPrefetcher(fetcher);
    p.onPlaylist(hintFor(3), PL_URL);
    p.onPlaylist(hintFor(4), PL_URL);
    const taken = p.take(urlFor(3));
    const empty = p.take(urlFor(4));
    calls[0].resolve(null);
    calls[1].resolve(part(0));
    assert.equal(await taken, null);
    assert.equal(await empty, null);
    assert.equal(p.counts.failed, 2);
  });

  it("stops for good after a player error it is told to stop on, and only then", () => {
    const { calls, fetcher } = manualFetch();
    const p = new PartPrefetcher(fetcher);
    p.onPlaylist(hintFor(3), PL_URL);
    p.onPlayerError('bufferStalledError');
    assert.equal(p.size, 1);
    assert.equal(p.counts.stoppedBy, null);
    p.onPlayerError('fragParsingError');
    assert.equal(calls[0].signal.aborted, true);
    assert.equal(p.counts.stoppedBy, 'fragParsingError');
    p.onPlaylist(hintFor(4), PL_URL);
    assert.equal(calls.length, 1);
    assert.equal(p.take(urlFor(3)), null);
  });
});

/** Stands for hls.js's BaseLoader: one load per instance, records what reached the network. */
const network: string[] = [];
function fakeStats(): LoaderStats {
  return {
    aborted: false,
    loaded: 0,
    retry: 0,
    total: 0,
    chunkCount: 0,
    bwEstimate: 0,
    loading: { start: 0, first: 0, end: 0 },
    parsing: { start: 0, end: 0 },
    buffering: { start: 0, first: 0, end: 0 },
  };
}
class FakeBase {
  context: LoaderContext | null = null;
  stats = fakeStats();
  constructor(readonly hlsConfig: HlsConfig) {}
  load(context: LoaderContext, _config: LoaderConfiguration, callbacks: LoaderCallbacks<LoaderContext>): void {
    if (this.stats.loading.start) throw new Error('Loader can only be used once.');
    this.stats.loading.start = performance.now();
    this.context = context;
    network.push(context.url);
    const data = context.type === 'media-fragment' ? new Uint8Array(7).buffer : hintFor(9);
    queueMicrotask(() => callbacks.onSuccess({ url: context.url, data }, this.stats, context, null));
  }
  abort(): void {}
  destroy(): void {}
}
const Base = FakeBase as unknown as LoaderClass;

const loaderConfig = { timeout: 20_000 } as LoaderConfiguration;
const hlsConfig = (lowLatencyMode: boolean) => ({ lowLatencyMode }) as HlsConfig;
/** A load context as hls.js makes one (only the fields the loaders read); `never` fits both loaders' context types. */
const ctx = (url: string, type: string, range?: [number, number]): never =>
  (type === 'media-fragment'
    ? { url, type, responseType: 'arraybuffer', rangeStart: range?.[0] ?? 0, rangeEnd: range?.[1] ?? 0 } // as hls.js's createLoaderContext
    : { url, type, responseType: 'text' }) as never;

function callbacks() {
  const got: { success: Array<{ data: unknown; stats: LoaderStats }>; aborts: number } = { success: [], aborts: 0 };
  const cb: LoaderCallbacks<LoaderContext> = {
    onSuccess: (response, stats) => got.success.push({ data: response.data, stats }),
    onError: () => assert.fail('onError'),
    onTimeout: () => assert.fail('onTimeout'),
    onAbort: () => got.aborts++,
  };
  return { got, cb };
}

/** Lets promise jobs and the tasks they queue run (a loader answers in a task of its own). */
const tick = () => new Promise((r) => setTimeout(() => setTimeout(r, 0), 0));

describe('partPrefetch loaders', () => {
  it('a playlist load in low-latency mode prefetches its hint; the part load is then answered without the network', async () => {
    network.length = 0;
    const { calls, fetcher } = manualFetch();
    const { config, prefetcher } = partPrefetch(Base, new PartPrefetcher(fetcher));
    const pl = callbacks();
    new config.pLoader(hlsConfig(true)).load(ctx(PL_URL, 'level'), loaderConfig, pl.cb);
    await tick();
    assert.equal(pl.got.success.length, 1, 'hls.js still gets the playlist');
    assert.deepEqual(calls.map((c) => c.url), [urlFor(9)]);

    const fr = callbacks();
    new config.fLoader(hlsConfig(true)).load(ctx(urlFor(9), 'media-fragment'), loaderConfig, fr.cb);
    await tick();
    assert.equal(fr.got.success.length, 0, 'waits for the prefetch');
    calls[0].resolve(part(1234));
    await tick();
    assert.equal(fr.got.success.length, 1);
    assert.equal((fr.got.success[0].data as ArrayBuffer).byteLength, 1234);
    assert.equal(fr.got.success[0].stats.loaded, 1234);
    assert.ok(fr.got.success[0].stats.loading.end >= fr.got.success[0].stats.loading.first);
    assert.deepEqual(network, [PL_URL], 'the part never went to the network a second time');
    assert.equal(prefetcher.counts.used, 1);
  });

  it('a completed prefetch is answered in a later task, as a network load is, not in a promise job', async () => {
    const { calls, fetcher } = manualFetch();
    const { config } = partPrefetch(Base, new PartPrefetcher(fetcher));
    new config.pLoader(hlsConfig(true)).load(ctx(PL_URL, 'level'), loaderConfig, callbacks().cb);
    await tick();
    calls[0].resolve(part(3));
    await tick();
    const fr = callbacks();
    new config.fLoader(hlsConfig(true)).load(ctx(urlFor(9), 'media-fragment'), loaderConfig, fr.cb);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    assert.equal(fr.got.success.length, 0);
    await tick();
    assert.equal(fr.got.success.length, 1);
  });

  it('without low-latency mode nothing is prefetched', async () => {
    const { calls, fetcher } = manualFetch();
    const { config } = partPrefetch(Base, new PartPrefetcher(fetcher));
    const pl = callbacks();
    new config.pLoader(hlsConfig(false)).load(ctx(PL_URL, 'level'), loaderConfig, pl.cb);
    await tick();
    assert.equal(pl.got.success.length, 1);
    assert.equal(calls.length, 0);
  });

  it('a part not prefetched, or whose prefetch failed, is loaded the normal way', async () => {
    network.length = 0;
    const { calls, fetcher } = manualFetch();
    const { config } = partPrefetch(Base, new PartPrefetcher(fetcher));
    const a = callbacks();
    new config.fLoader(hlsConfig(true)).load(ctx(urlFor(1), 'media-fragment'), loaderConfig, a.cb);
    await tick();
    assert.deepEqual(network, [urlFor(1)]);
    assert.equal(a.got.success.length, 1);

    new config.pLoader(hlsConfig(true)).load(ctx(PL_URL, 'level'), loaderConfig, callbacks().cb);
    await tick();
    const b = callbacks();
    new config.fLoader(hlsConfig(true)).load(ctx(urlFor(9), 'media-fragment'), loaderConfig, b.cb);
    calls[0].resolve(null);
    await tick();
    await tick();
    assert.deepEqual(network, [urlFor(1), PL_URL, urlFor(9)]);
    assert.equal(b.got.success.length, 1);
    assert.equal((b.got.success[0].data as ArrayBuffer).byteLength, 7, 'the normal load answered');
  });

  it('a byte-range load of a prefetched URL goes to the network', async () => {
    network.length = 0;
    const { fetcher } = manualFetch();
    const { config, prefetcher } = partPrefetch(Base, new PartPrefetcher(fetcher));
    new config.pLoader(hlsConfig(true)).load(ctx(PL_URL, 'level'), loaderConfig, callbacks().cb);
    await tick();
    const b = callbacks();
    new config.fLoader(hlsConfig(true)).load(ctx(urlFor(9), 'media-fragment', [0, 100]), loaderConfig, b.cb);
    await tick();
    assert.deepEqual(network, [PL_URL, urlFor(9)]);
    assert.equal(b.got.success.length, 1);
    assert.equal(prefetcher.counts.used, 0);
  });

  it('a prefetch that takes longer than the load timeout falls back to a normal load', async () => {
    network.length = 0;
    const { calls, fetcher } = manualFetch();
    const { config } = partPrefetch(Base, new PartPrefetcher(fetcher));
    new config.pLoader(hlsConfig(true)).load(ctx(PL_URL, 'level'), loaderConfig, callbacks().cb);
    await tick();
    const b = callbacks();
    new config.fLoader(hlsConfig(true)).load(ctx(urlFor(9), 'media-fragment'), { timeout: 20 } as LoaderConfiguration, b.cb);
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(network, [PL_URL, urlFor(9)]);
    assert.equal(b.got.success.length, 1);
    calls[0].resolve(part(5)); // late: ignored
    await tick();
    assert.equal(b.got.success.length, 1);
  });

  it('abort while waiting reports the abort and never succeeds', async () => {
    const { calls, fetcher } = manualFetch();
    const { config } = partPrefetch(Base, new PartPrefetcher(fetcher));
    new config.pLoader(hlsConfig(true)).load(ctx(PL_URL, 'level'), loaderConfig, callbacks().cb);
    await tick();
    const b = callbacks();
    const loader = new config.fLoader(hlsConfig(true));
    loader.load(ctx(urlFor(9), 'media-fragment'), loaderConfig, b.cb);
    loader.abort();
    assert.equal(b.got.aborts, 1);
    assert.equal(loader.stats.aborted, true);
    calls[0].resolve(part(5));
    await tick();
    assert.equal(b.got.success.length, 0);
  });
});
