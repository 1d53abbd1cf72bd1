/**
 * Preload-hint prefetch for hls.js: the watch page fetches the part a playlist's `EXT-X-PRELOAD-HINT` names as soon
 * as the playlist arrives, the way Safari does, and hands it to hls.js when hls.js asks for that part.
 *
 * Why: hls.js 1.x parses the hint but does not fetch it. Per part it asks for the next playlist (a blocking reload,
 * held by the server until the part exists), reads it, and only then asks for the part: one more round trip, and on
 * the server the part request of every viewer comes in after the whole pass that answered the playlists. With the
 * hinted part requested beforehand (the server holds that request too: RFC 8216bis 6.2.5.2), the server writes the
 * playlist and the part in the same pass when the part is ready, and hls.js gets the part from memory. At 1000
 * viewers that halves the requests the server reads per part and takes the playlist → part round trip out of the
 * delay (docs/BENCHMARKS.md, LL-HLS viewers: the "hint" client is this page).
 *
 * How: two hls.js loader classes made from hls.js's own default loader (`Hls.DefaultConfig.loader`), so this module
 * imports nothing from hls.js at run time (the latency benchmark serves it to its viewer page as is):
 *   - `pLoader`: a normal playlist load; on success, before hls.js sees the playlist, its preload hint (a TYPE=PART
 *     hint without a byte range) is fetched, once per URL; only the newest few are kept (older ones are aborted);
 *   - `fLoader`: a fragment/part load whose URL was prefetched is answered from that prefetch (waiting for it if it
 *     is still on its way); anything else, and any prefetch that failed or took longer than the load's timeout, is
 *     loaded the normal way.
 * Only with `lowLatencyMode` (without it hls.js loads whole segments and the hint is of no use).
 * A player error in STOP_ON turns the prefetch off for the rest of the session (`onPlayerError`, wired by the page).
 */
import type {
  FragmentLoaderConstructor,
  HlsConfig,
  Loader,
  LoaderCallbacks,
  LoaderConfiguration,
  LoaderContext,
  LoaderStats,
  PlaylistLoaderConstructor,
} from 'hls.js';

/** A prefetched part: its bytes and when its response started and ended (`performance.now()` ms). */
export interface PrefetchedPart {
  data: ArrayBuffer;
  first: number;
  end: number;
}

/** Fetches one part; resolves null when there is no usable 200 response (error, abort, other status). */
export type FetchPart = (url: string, signal: AbortSignal) => Promise<PrefetchedPart | null>;

/** What a prefetcher did, for the page's diagnostics and the tests. */
export interface PrefetchCounts {
  /** Stopped after the player reported an error in STOP_ON (see onPlayerError). */
  stoppedBy: string | null;
  /** Hinted parts requested. */
  started: number;
  /** Prefetches handed to hls.js. */
  used: number;
  /** Of those, ones that gave no part (hls.js then loaded it the normal way). */
  failed: number;
  /** Dropped unused, oldest first, beyond the few kept (hls.js loading whole segments, or seeking). */
  dropped: number;
}

const HINT_LINE = /^#EXT-X-PRELOAD-HINT:(.*)$/m;

/**
 * hls.js errors after which the page stops prefetching for the rest of the session and lets hls.js load every part
 * itself. In 19 glass-to-glass runs with the prefetch hls.js twice reported a part that gave no media (a one-part
 * hole, then a stall) — not seen in the 5 runs without it, cause not found (docs/BENCHMARKS.md); one such error turns
 * the prefetch off for that viewer rather than risk another.
 */
export const STOP_ON: ReadonlySet<string> = new Set(['fragParsingError']);

/** The attribute `name` of an attribute list (quoted or not), or undefined. */
function attr(list: string, name: string): string | undefined {
  const re = new RegExp(`(?:^|,)${name}=("([^"]*)"|[^,]*)`);
  const m = re.exec(list);
  if (!m) return undefined;
  return m[2] ?? m[1];
}

/**
 * The absolute URL of the part a media playlist's preload hint names, or null: none, not TYPE=PART, or a byte range
 * (BYTERANGE-START/LENGTH: a hint for part of a resource, which this page does not prefetch).
 */
export function preloadHintUrl(playlist: string, playlistUrl: string): string | null {
  const m = HINT_LINE.exec(playlist);
  if (!m) return null;
  const list = m[1].trim();
  if (attr(list, 'TYPE') !== 'PART') return null;
  if (attr(list, 'BYTERANGE-START') !== undefined || attr(list, 'BYTERANGE-LENGTH') !== undefined) return null;
  const uri = attr(list, 'URI');
  if (!uri) return null;
  try {
    return new URL(uri, playlistUrl).href;
  } catch {
    return null;
  }
}

/** The default FetchPart: `fetch`, 200 only. */
export const fetchPart: FetchPart = async (url, signal) => {
  try {
    const res = await fetch(url, { signal });
    const first = performance.now();
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      return null;
    }
    const data = await res.arrayBuffer();
    return { data, first, end: performance.now() };
  } catch {
    return null;
  }
};

interface Entry {
  promise: Promise<PrefetchedPart | null>;
  controller: AbortController;
}

/** The hinted parts of one player, fetched ahead and handed over once. */
export class PartPrefetcher {
  /** In the order they were started. */
  private readonly entries = new Map<string, Entry>();
  private stopped = false;
  readonly counts: PrefetchCounts = { started: 0, used: 0, failed: 0, dropped: 0, stoppedBy: null };

  constructor(
    private readonly fetcher: FetchPart = fetchPart,
    /** Prefetches kept at most (normally one or two are: the hinted part, and the one hls.js is about to ask for). */
    private readonly keep = 3,
  ) {}

  /** A playlist arrived: fetch its hinted part, unless already fetched (or after stop()). */
  onPlaylist(text: string, playlistUrl: string): void {
    if (this.stopped) return;
    const url = preloadHintUrl(text, playlistUrl);
    if (url === null || this.entries.has(url)) return;
    const controller = new AbortController();
    this.entries.set(url, { promise: this.fetcher(url, controller.signal), controller });
    this.counts.started++;
    while (this.entries.size > this.keep) {
      const [oldest, entry] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldest);
      entry.controller.abort();
      this.counts.dropped++;
    }
  }

  /** The prefetch of `url`, handed over once (then forgotten), or null when there is none. */
  take(url: string): Promise<PrefetchedPart | null> | null {
    const entry = this.entries.get(url);
    if (!entry) return null;
    this.entries.delete(url);
    this.counts.used++;
    return entry.promise.then((part) => {
      // No bytes (nothing a part can be): treated as a failed prefetch, so hls.js loads the part itself.
      if (part !== null && part.data.byteLength === 0) part = null;
      if (part === null) this.counts.failed++;
      return part;
    });
  }

  /** Prefetches held now. */
  get size(): number {
    return this.entries.size;
  }

  /** The player reported an error (hls.js's `details`): one in STOP_ON stops the prefetch for good. */
  onPlayerError(details: string): void {
    if (this.stopped || !STOP_ON.has(details)) return;
    this.counts.stoppedBy = details;
    this.stop();
  }

  /** Abort and forget every prefetch; later playlists start none. */
  stop(): void {
    this.stopped = true;
    for (const entry of this.entries.values()) entry.controller.abort();
    this.entries.clear();
  }
}

/** hls.js's loader class (`Hls.DefaultConfig.loader`): one instance per load. */
export type LoaderClass = new (config: HlsConfig) => Loader<LoaderContext>;

/** The hls.js config entries that turn the prefetch on, and the prefetcher behind them (stop it with the player). */
export interface PartPrefetch {
  config: { pLoader: PlaylistLoaderConstructor; fLoader: FragmentLoaderConstructor };
  prefetcher: PartPrefetcher;
}

const PLAYLIST_TYPES = new Set(['manifest', 'level']);

/** Loader classes for one hls.js instance, built on its default loader `Base`. */
export function partPrefetch(Base: LoaderClass, prefetcher: PartPrefetcher = new PartPrefetcher()): PartPrefetch {
  class PrefetchingPlaylistLoader extends Base {
    private readonly lowLatency: boolean;

    constructor(config: HlsConfig) {
      super(config);
      this.lowLatency = config.lowLatencyMode;
    }

    override load(context: LoaderContext, config: LoaderConfiguration, callbacks: LoaderCallbacks<LoaderContext>): void {
      if (!this.lowLatency || !PLAYLIST_TYPES.has(context.type)) {
        super.load(context, config, callbacks);
        return;
      }
      super.load(context, config, {
        ...callbacks,
        onSuccess: (response, stats, ctx, details) => {
          if (typeof response.data === 'string') prefetcher.onPlaylist(response.data, response.url || ctx.url);
          callbacks.onSuccess(response, stats, ctx, details);
        },
      });
    }
  }

  class PrefetchedPartLoader extends Base {
    /** Set while this load is answered from a prefetch: cleared by abort/destroy, or when it falls back. */
    private waiting: { callbacks: LoaderCallbacks<LoaderContext>; timer: ReturnType<typeof setTimeout> } | null = null;

    /** Ends the wait for the prefetch (its timer too): the callbacks it was for, or null when none is pending. */
    private endWait(): LoaderCallbacks<LoaderContext> | null {
      const waiting = this.waiting;
      if (waiting === null) return null;
      clearTimeout(waiting.timer);
      this.waiting = null;
      return waiting.callbacks;
    }

    override load(context: LoaderContext, config: LoaderConfiguration, callbacks: LoaderCallbacks<LoaderContext>): void {
      // hls.js sets rangeStart = rangeEnd = 0 for a whole resource and asks for a byte range only when rangeEnd is set.
      const ranged = Boolean(context.rangeEnd);
      const prefetched = ranged ? null : prefetcher.take(context.url);
      if (prefetched === null) {
        super.load(context, config, callbacks);
        return;
      }
      const stats: LoaderStats = this.stats;
      const start = performance.now();
      stats.loading.start = start;
      this.context = context;
      const fallBack = (): void => {
        if (this.endWait() === null) return;
        stats.loading.start = 0; // the base loader refuses a second load() otherwise
        super.load(context, config, callbacks);
      };
      const answer = (part: PrefetchedPart | null): void => {
        if (part === null) {
          fallBack();
          return;
        }
        const waiting = this.endWait();
        if (waiting === null) return; // aborted, destroyed or already fallen back
        // The transfer as this load saw it: from load() (or the response's start, if later) to the last byte.
        const first = Math.max(start, part.first);
        const end = Math.max(first, part.end, performance.now());
        stats.loading.first = first;
        stats.loading.end = end;
        stats.loaded = stats.total = part.data.byteLength;
        stats.bwEstimate = end > first ? (stats.total * 8000) / (end - first) : 0;
        waiting.onSuccess({ url: context.url, data: part.data, code: 200 }, stats, context, null);
      };
      const limit = Number.isFinite(config.timeout) && config.timeout > 0 ? config.timeout : 10_000;
      this.waiting = { callbacks, timer: setTimeout(fallBack, limit) };
      // Answered in a task of its own, as a network load is: hls.js's loading code has only ever seen loaders answer
      // after the task that called load() and the promise jobs it queued (here the prefetch is usually complete
      // already, and a promise job would answer before hls.js has finished starting the load).
      void prefetched.then((part) => setTimeout(() => answer(part), 0));
    }

    override abort(): void {
      const waiting = this.endWait();
      if (waiting === null) {
        super.abort();
        return;
      }
      this.stats.aborted = true;
      waiting.onAbort?.(this.stats, this.context as LoaderContext, null);
    }

    override destroy(): void {
      this.endWait();
      super.destroy();
    }
  }

  // hls.js types its loaders by context; these two take any context and pass it through.
  return {
    config: {
      pLoader: PrefetchingPlaylistLoader as unknown as PlaylistLoaderConstructor,
      fLoader: PrefetchedPartLoader as unknown as FragmentLoaderConstructor,
    },
    prefetcher,
  };
}
