/**
 * The in-process LL-HLS packager: one segmenter per live stream, fed by the hub like any
 * subscriber, and the HTTP handler for /hls/<id>/... with blocking playlist reload,
 * blocking preload-hinted parts and delta playlists. Everything is served from memory.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MediaPacket } from '../codec/flv';
import type { Hub, StreamInit, SubscriberSink } from '../media/hub';
import { STREAM_ID_PATTERN } from '../media/registry';
import { clientAddress } from '../http/trust-proxy';
import { type PlaylistOptions, renderPlaylist, targetDuration } from './playlist';
import { parseHlsQuery } from './query';
import { Segmenter, type Part, type Segment } from './segmenter';
import { HeldRequests } from './held';
import { ViewerSet } from './viewers';
import { WaitList, type Waiting } from './waiters';

export interface HlsOptions {
  segmentTarget: number;
  partTarget: number;
  /** PART-HOLD-BACK in part targets (>= 2, RFC 8216bis). */
  partHoldBackParts: number;
  /** Segments in the playlist (>= 6). */
  windowSegments: number;
  /** Longest a blocking request is held, ms (at most; also bounded by 3 target durations). */
  maxBlockMs: number;
  /** Most blocked requests held per stream; beyond it a request is refused at once (503, Retry-After). */
  maxWaiters: number;
  /**
   * Most blocked requests held per connection and per client address, over all streams; beyond either a request is
   * refused at once (429, Retry-After). A player holds at most three (a playlist reload, the hinted part and the one
   * after it), on separate connections; only a client that pipelines (on Node's server) can hold several on one.
   */
  maxHeldPerConnection: number;
  maxHeldPerAddress: number;
  /** How long an ended stream's playlist (with ENDLIST) stays available, ms. */
  keepEndedMs: number;
  /**
   * Least wall-clock time between a segment's last part and the part before it, in part targets (default 1; 0 turns
   * it off). See SegmenterOptions.lastPartGapMs: without it hls.js skips a short last part that comes in the same
   * burst as the part before, and stalls.
   */
  lastPartGap: number;
  /**
   * Package on demand: 0 packages every live stream from its first packet to its end. Otherwise a stream is packaged
   * only while someone asks for it: the first /hls/ request for a live stream (or `activate`, for snapshots) starts
   * its packager from the hub's GOP cache — so the first playlist already has the current GOP's parts — and it stops
   * after this many ms without a request (a viewer reloads its playlist at least every target duration).
   */
  idleStopMs: number;
  /**
   * Each part a live packet completes (not the GOP replayed to a packager that starts late): ms from the arrival of
   * the newest packet it was cut from (or that closed it) to the part being fetchable. For the metrics.
   */
  onPartReady?: (delayMs: number) => void;
  /** Package this stream from its publish to its end whatever idleStopMs says (a recorder needs its segments). */
  keepPackaging?: (id: string) => boolean;
  /** Every complete segment of every packaged stream, with its init segment and its packager run (server/record). */
  onSegment?: (id: string, run: string, seg: Segment, init: Buffer) => void;
  log?: { warn(obj: object, msg: string): void };
}

const DEFAULTS: HlsOptions = {
  segmentTarget: 1,
  partTarget: 0.2,
  partHoldBackParts: 3,
  windowSegments: 7,
  maxBlockMs: 10_000,
  maxWaiters: 20_000,
  maxHeldPerConnection: 4,
  maxHeldPerAddress: 500,
  keepEndedMs: 30_000,
  lastPartGap: 1,
  idleStopMs: 0,
};

/**
 * Where an /hls/ response goes: Node's `ServerResponse` (NodeReply, below), or a connection of the HTTP front door
 * (server/http/front.ts), which writes pre-serialised responses on the raw socket.
 */
export interface HlsReply {
  /**
   * Send the whole response. The same headers come as the same array object (a part's, a rendered playlist's), so a
   * writer may cache their serialised form by identity. `headOnly`: a HEAD request (headers only).
   */
  send(status: number, head: RawHeaders, body: Buffer | readonly Buffer[], headOnly: boolean): void;
  /** The client went away: answering it is wasted work. */
  readonly gone: boolean;
  /** Close the connection (a response failed midway). */
  destroy(): void;
  /** Who is watching: client address and User-Agent, for the viewer count. */
  viewerKey(): string;
  /** The client's address (for the limits per address). */
  address(): string;
  /** The connection, as an identity (for the limit of held requests per connection). */
  connection(): object;
}

/** What `handle` reads of a request's URL (a `URL` will do). */
export interface HlsTarget {
  readonly pathname: string;
  /** The query with its `?`, or ''. */
  readonly search: string;
}

const HLS_PATH = /^\/hls\/([^/]+)\/([^/]+)$/;
const VIEWER_WINDOW_MS = 6_000;
/** Viewers counted per client address (distinct User-Agents), and per stream in all. */
const VIEWERS_PER_ADDRESS = 64;
const MAX_VIEWERS = 50_000;
/**
 * The viewer beacon, GET /hls/<id>/ping?sid=<session id>: players send it every ~10 s (the watch page does), never
 * cached (no-store), so viewers are counted behind an HTTP cache too, where the playlist requests that reach us are
 * the cache's misses only. A viewer is (client address, sid), counted for BEACON_WINDOW_MS; the per-address cap and the
 * bound of the set are the playlist viewers'. A stream's count is the larger of the two sets (a viewer is in both
 * when it reaches us directly).
 */
const BEACON_WINDOW_MS = 25_000;
const SID = /^sid=([A-Za-z0-9_-]{8,64})$/;
const NO_CONTENT: RawHeaders = [
  'Cache-Control', 'no-store',
  'Access-Control-Allow-Origin', '*',
  'Content-Length', '0',
];
/** Seconds a refused request (429, 503) is told to wait before it tries again. */
const RETRY_AFTER_S = '1';
/** How long a plain playlist request waits for a new stream's first part, ms. */
const FIRST_PART_WAIT_MS = 3000;

/** What a blocked request waits for. */
const WAIT_PART = 0; // a preload-hinted part (msn, index)
const WAIT_PLAYLIST = 1; // a blocking playlist reload: segment msn, part index (-1: the whole segment)
const WAIT_FIRST = 2; // a plain playlist request before the stream's first part
/** Part requests are answered before playlist requests: a viewer that asked for the part needs it first. */
const PRIORITY = [0, 1, 1];

/** A blocked request: plain data, no closure or promise of its own. */
class Waiter implements Waiting {
  /** While held, counted in the service's held requests under this connection (null: not counted) and address. */
  conn: object | null = null;
  addr = '';
  constructor(
    readonly kind: number,
    readonly msn: number,
    readonly index: number,
    readonly skip: boolean,
    readonly head: boolean,
    readonly reply: HlsReply,
    readonly deadline: number,
  ) {}
}

class HlsStream implements SubscriberSink {
  readonly kind = 'hls';
  segmenter: Segmenter;
  inits = new Map<number, Buffer>();
  /** Blocked requests; answered in changed(), or by its timer when their time is up. */
  readonly waiters = new WaitList<Waiter>({ isReady: (w) => this.isReady(w), answer: (w, ready) => this.answer(w, ready) }, 2);
  /** How long a blocking request is held, ms (per change: it follows the target duration). */
  private blockMsCache = -1;
  /** Blocked requests are answered in a microtask after a change (see changed()). */
  private wakeQueued = false;
  private readonly wakeNow = () => {
    this.wakeQueued = false;
    this.waiters.wake();
  };
  unsubscribe: () => void = () => undefined;
  /** For onPartReady: arrival (ms) of the newest live packet (0: none since start), and the newest part seen. */
  private lastArrival = 0;
  private lastPart: Part | undefined;
  endTimer: ReturnType<typeof setTimeout> | null = null;
  readonly viewers = new ViewerSet(VIEWER_WINDOW_MS, VIEWERS_PER_ADDRESS, MAX_VIEWERS);
  /** Viewers by beacon (see BEACON_WINDOW_MS). */
  readonly beacons = new ViewerSet(BEACON_WINDOW_MS, VIEWERS_PER_ADDRESS, MAX_VIEWERS);
  /** performance.now() of the latest request (for on-demand packaging). */
  lastUsed = performance.now();
  /**
   * Rendered playlists (full and delta) and their response headers, until the next change: every
   * blocked viewer gets the same bytes. Indexed by (delta ? 3 : 0) + cache kind (see CACHE).
   */
  private rendered: Array<{ body: Buffer; head: RawHeaders } | undefined> = [];

  constructor(
    readonly id: string,
    private readonly service: HlsService,
  ) {
    this.segmenter = this.newSegmenter();
  }

  newSegmenter(): Segmenter {
    const s = new Segmenter({
      segmentTarget: this.service.options.segmentTarget,
      partTarget: this.service.options.partTarget,
      keepSegments: this.service.options.windowSegments + 3,
      lastPartGapMs: this.service.options.lastPartGap * this.service.options.partTarget * 1000,
    });
    s.onChange = () => this.changed();
    const onSegment = this.service.options.onSegment;
    if (onSegment) s.onSegment = (seg, init) => onSegment(this.id, s.run, seg, init);
    return s;
  }

  /** The playlist response: rendered once per change, per variant (full or delta) and caching. */
  playlist(skip: boolean, cache: number): { body: Buffer; head: RawHeaders } {
    const slot = (skip ? 3 : 0) + cache;
    let r = this.rendered[slot];
    if (!r) {
      const other = this.rendered[(skip ? 3 : 0) + ((cache + 1) % 3)] ?? this.rendered[(skip ? 3 : 0) + ((cache + 2) % 3)];
      const body = other?.body ?? Buffer.from(renderPlaylist(this.segmenter, this.service.playlistOptions, { skip }));
      r = this.rendered[slot] = { body, head: headers(PLAYLIST_TYPE, body.length, CACHE[cache]) };
    }
    return r;
  }

  blockMs(): number {
    if (this.blockMsCache < 0) {
      this.blockMsCache = Math.min(this.service.options.maxBlockMs, 3 * 1000 * targetDuration(this.segmenter, this.service.playlistOptions));
    }
    return this.blockMsCache;
  }

  /** Hold a request until `isReady`, answer it now if it is ready, refuse it if too many are held. */
  hold(w: Waiter): void {
    if (this.isReady(w)) this.answer(w, true);
    else if (this.waiters.size >= this.service.options.maxWaiters) {
      this.service.held.refusedFull++;
      sendRefusal(w.reply, 503, 'too many requests are waiting for this stream');
    } else {
      const conn = w.reply.connection();
      const addr = w.reply.address();
      if (!this.service.held.acquire(conn, addr)) {
        sendRefusal(w.reply, 429, 'too many requests held for this client');
        return;
      }
      w.conn = conn;
      w.addr = addr;
      this.waiters.add(w, PRIORITY[w.kind]);
    }
  }

  private isReady(w: Waiter): boolean {
    const s = this.segmenter;
    if (w.kind === WAIT_PART) return this.findPart(w.msn, w.index) !== undefined || s.ended || (this.findSegment(w.msn)?.complete ?? false);
    if (w.kind === WAIT_PLAYLIST) {
      if (s.ended || w.msn < s.mediaSequence) return true;
      const seg = this.findSegment(w.msn);
      if (!seg) return false;
      return w.index < 0 ? seg.complete : seg.parts.length > w.index || seg.complete;
    }
    return s.segments.length > 0 && s.segments[0].parts.length > 0;
  }

  /** Answer a held request: `ready` false when its time ran out (or the stream is closing). */
  private answer(w: Waiter, ready: boolean): void {
    const reply = w.reply;
    if (w.conn) {
      this.service.held.release(w.conn, w.addr);
      w.conn = null;
    }
    try {
      if (w.kind === WAIT_PART) {
        const part = this.findPart(w.msn, w.index);
        if (part) {
          reply.send(200, partHeaders(part), part.data, w.head);
          if (!w.head) this.service.bytesOut += part.data.length;
        } else sendStatus(reply, 404, 'no such part');
      } else if (w.kind === WAIT_PLAYLIST) {
        if (!ready) sendStatus(reply, 503, 'the requested part did not arrive in time');
        else if (!reply.gone) this.sendPlaylist(reply, w.skip, true, w.head);
      } else if (!this.segmenter.init || this.segmenter.segments.length === 0) sendStatus(reply, 404, 'the stream has no media yet');
      else if (!reply.gone) this.sendPlaylist(reply, w.skip, false, w.head);
    } catch (err) {
      this.service.options.log?.warn({ err }, 'HLS response failed');
      reply.destroy();
    }
  }

  sendPlaylist(reply: HlsReply, skip: boolean, blocking: boolean, head: boolean): void {
    const r = this.playlist(skip, this.segmenter.ended ? CACHE_ENDED : blocking ? CACHE_BLOCKING : CACHE_PLAIN);
    reply.send(200, r.head, r.body, head);
    if (!head) this.service.bytesOut += r.body.length;
  }

  private changed(): void {
    const onPart = this.service.options.onPartReady;
    if (onPart) {
      const newest = this.segmenter.segments.at(-1)?.parts.at(-1);
      if (newest !== this.lastPart) {
        this.lastPart = newest;
        if (newest && this.lastArrival > 0 && Number.isFinite(this.lastArrival)) onPart(Math.max(0, Date.now() - this.lastArrival));
      }
    }
    this.rendered.length = 0;
    this.blockMsCache = -1;
    const s = this.segmenter;
    if (s.init && !this.inits.has(s.initVersion)) this.inits.set(s.initVersion, s.init);
    if (this.inits.size > 1) {
      const used = new Set(s.segments.map((x) => x.initVersion));
      used.add(s.initVersion);
      for (const v of this.inits.keys()) if (!used.has(v)) this.inits.delete(v);
    }
    // Answered once the caller is done, not at this change: one packet can change the segmenter twice
    // (a segment's last part, then the segment), and a publisher that leaves ends its stream right
    // after; a request answered in between would get a playlist whose preload hint is never written,
    // or no ENDLIST.
    if (!this.wakeQueued) {
      this.wakeQueued = true;
      queueMicrotask(this.wakeNow);
    }
  }

  // SubscriberSink
  start(init: StreamInit): void {
    if (this.endTimer) clearTimeout(this.endTimer);
    this.endTimer = null;
    this.segmenter.restart();
    this.lastArrival = 0;
    for (const cfg of [init.videoConfig, init.audioConfig]) if (cfg) this.segmenter.packet(cfg);
    for (const p of init.gop) this.segmenter.packet(p);
  }
  packet(p: MediaPacket): void {
    this.lastArrival = p.receivedAt;
    this.segmenter.packet(p);
  }
  unpublished(): void {
    this.segmenter.flush();
    this.changed();
  }
  end(): void {
    this.segmenter.end();
  }
  bufferedBytes(): number {
    return 0;
  }

  findSegment(msn: number): Segment | undefined {
    const segs = this.segmenter.segments;
    const first = segs[0]?.msn;
    if (first === undefined) return undefined;
    return segs[msn - first];
  }

  findPart(msn: number, index: number): Part | undefined {
    return this.findSegment(msn)?.parts[index];
  }

  noteViewer(reply: HlsReply, now: number): void {
    this.viewers.note(reply.address(), reply.viewerKey(), now);
  }

  viewerCount(now: number): number {
    return Math.max(this.viewers.count(now), this.beacons.count(now));
  }

  close(): void {
    if (this.endTimer) clearTimeout(this.endTimer);
    this.segmenter.dispose();
    this.waiters.drain();
    this.unsubscribe();
  }
}

/** Response headers as a flat [name, value, ...] array: writeHead takes it as it is, no object to walk. */
export type RawHeaders = readonly string[];
const EXPOSE = 'Content-Length, Date, Age';

function headers(type: string, length: number, cache: string): string[] {
  return [
    'Content-Type', type,
    'Content-Length', String(length),
    'Cache-Control', cache,
    'Access-Control-Allow-Origin', '*',
    'Access-Control-Expose-Headers', EXPOSE,
  ];
}

/** A response on Node's `http` server. */
export class NodeReply implements HlsReply {
  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {}

  get gone(): boolean {
    return this.res.destroyed;
  }

  send(status: number, head: RawHeaders, body: Buffer | readonly Buffer[], headOnly: boolean): void {
    const res = this.res;
    res.writeHead(status, head as string[]);
    if (headOnly) res.end();
    else if (Buffer.isBuffer(body)) res.end(body); // headers and body in one write
    else {
      for (const b of body) res.write(b);
      res.end();
    }
  }

  destroy(): void {
    this.res.destroy();
  }

  viewerKey(): string {
    return viewerKey(this.req);
  }

  address(): string {
    return clientAddress(this.req);
  }

  connection(): object {
    return this.req.socket;
  }
}

function send(reply: HlsReply, status: number, type: string, body: Buffer | string | readonly Buffer[], cache: string, head: boolean): void {
  const parts = typeof body === 'string' ? Buffer.from(body) : body;
  const length = Buffer.isBuffer(parts) ? parts.length : parts.reduce((n, b) => n + b.length, 0);
  reply.send(status, headers(type, length, cache), parts, head);
}

function sendStatus(reply: HlsReply, status: number, message: string): void {
  send(reply, status, 'text/plain; charset=utf-8', `${message}\n`, 'no-store', false);
}

/** A request refused for load (429: this client holds too many, 503: the stream does), to be tried again soon. */
function sendRefusal(reply: HlsReply, status: 429 | 503, message: string): void {
  const body = Buffer.from(`${message}\n`);
  reply.send(status, [...headers('text/plain; charset=utf-8', body.length, 'no-store'), 'Retry-After', RETRY_AFTER_S], body, false);
}

/** The headers of an OPTIONS (CORS preflight) answer. */
const PREFLIGHT: RawHeaders = [
  'Access-Control-Allow-Origin', '*',
  'Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers', 'Range, Content-Type',
  'Access-Control-Max-Age', '86400',
];
const NO_BODY = Buffer.alloc(0);

/** The User-Agent header from the raw list (req.headers would build an object of all headers). */
function userAgent(req: IncomingMessage): string {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 10 && (name === 'User-Agent' || name.toLowerCase() === 'user-agent')) return raw[i + 1];
  }
  return '';
}

/** Viewer key per connection (address and User-Agent), so a keep-alive viewer does not build it per request. */
const viewerKeys = new WeakMap<object, { ua: string; address: string; key: string }>();

function viewerKey(req: IncomingMessage): string {
  const ua = userAgent(req).slice(0, 200);
  const sock = req.socket;
  const address = clientAddress(req);
  const known = viewerKeys.get(sock);
  if (known && known.ua === ua && known.address === address) return known.key;
  const key = `${address}|${ua}`;
  viewerKeys.set(sock, { ua, address, key });
  return key;
}

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
/** Cache-Control of playlists: a plain reload, a blocking reload, an ended stream. */
const CACHE = ['public, max-age=1', 'public, max-age=6', 'public, max-age=10'];
const CACHE_PLAIN = 0;
const CACHE_BLOCKING = 1;
const CACHE_ENDED = 2;
const NAME = /^([0-9a-f]{8})-(?:init(\d{1,9})\.mp4|seg(\d{1,12})\.m4s|part(\d{1,12})\.(\d{1,6})\.m4s)$/;
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** Response headers of each part, made once (parts are immutable; the entry goes with the part). */
const partHeadCache = new WeakMap<Part, RawHeaders>();
function partHeaders(part: Part): RawHeaders {
  let h = partHeadCache.get(part);
  if (!h) partHeadCache.set(part, (h = headers('video/mp4', part.data.length, IMMUTABLE)));
  return h;
}

export class HlsService {
  readonly options: HlsOptions;
  readonly playlistOptions: PlaylistOptions;
  private streams = new Map<string, HlsStream>();
  /** Blocked requests held, per connection and client address, over all streams. */
  readonly held: HeldRequests;
  private offs: Array<() => void> = [];
  /** Bytes of playlists and media sent since the start (bodies of 200 answers; for the metrics). */
  bytesOut = 0;
  /** /hls/ requests answered or held since the start (for the metrics). */
  requests = 0;
  /** On demand: the timer that stops packagers nobody asks for (armed while any runs). */
  private idleTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly hub: Hub,
    options: Partial<HlsOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.held = new HeldRequests(this.options.maxHeldPerConnection, this.options.maxHeldPerAddress);
    this.playlistOptions = {
      segmentTarget: this.options.segmentTarget,
      partTarget: this.options.partTarget,
      partHoldBackParts: this.options.partHoldBackParts,
      windowSegments: this.options.windowSegments,
      partSegments: 3,
    };
    this.offs.push(
      hub.events.on('publish', ({ id }) => this.onPublish(id)),
      hub.events.on('end', ({ id }) => this.onEnd(id)),
    );
  }

  private onPublish(id: string): void {
    let st = this.streams.get(id);
    if (st && st.segmenter.ended) {
      // A stream that had ended starts again: a fresh timeline and fresh URIs.
      st.close();
      this.streams.delete(id);
      st = undefined;
    }
    if (st) return; // resumed within the grace period: the sink's start() handles it
    if (this.options.idleStopMs === 0 || this.options.keepPackaging?.(id)) this.startPackager(id);
  }

  private startPackager(id: string): HlsStream {
    const st = new HlsStream(id, this);
    this.streams.set(id, st);
    // A live stream's sink starts at once, with the cached GOP.
    st.unsubscribe = this.hub.subscribe(id, st);
    if (this.options.idleStopMs > 0 && !this.idleTimer) {
      this.idleTimer = setInterval(() => this.stopIdle(), Math.max(250, this.options.idleStopMs / 4));
      this.idleTimer.unref?.();
    }
    return st;
  }

  /**
   * On demand: make sure a live (or reconnecting) stream is being packaged, e.g. before reading its newest keyframe
   * for a snapshot. True when it is (always true for a packaged stream; false for a stream that is not live).
   */
  activate(id: string): boolean {
    return this.packager(id) !== undefined;
  }

  /** The stream's packager, marked as used now; started on demand for a live (or reconnecting) stream. */
  private packager(id: string): HlsStream | undefined {
    const st = this.streams.get(id);
    if (st) {
      st.lastUsed = performance.now();
      return st;
    }
    if (this.options.idleStopMs === 0 || !this.hub.isActive(id)) return undefined;
    return this.startPackager(id);
  }

  /** Stop the packagers nobody asked for in `idleStopMs` (ended streams go by their own timer). */
  private stopIdle(): void {
    const now = performance.now();
    for (const [id, st] of this.streams) {
      if (st.segmenter.ended || st.waiters.size > 0 || now - st.lastUsed < this.options.idleStopMs) continue;
      if (this.options.keepPackaging?.(id)) continue;
      st.close();
      this.streams.delete(id);
    }
    if (this.streams.size === 0 && this.idleTimer) {
      clearInterval(this.idleTimer);
      this.idleTimer = null;
    }
  }

  /** Streams being packaged now. */
  get packaging(): number {
    return this.streams.size;
  }

  /** Blocked requests held now, all streams (for /healthz and the drain). */
  get heldRequests(): number {
    let n = 0;
    for (const st of this.streams.values()) n += st.waiters.size;
    return n;
  }

  private onEnd(id: string): void {
    const st = this.streams.get(id);
    if (!st) return;
    st.segmenter.end();
    st.endTimer = setTimeout(() => {
      if (this.streams.get(id) === st) {
        st.close();
        this.streams.delete(id);
      }
    }, this.options.keepEndedMs);
    st.endTimer.unref?.();
  }

  /** HLS viewers of a stream: distinct clients that fetched its playlist in the last few seconds. */
  viewers(id: string): number {
    return this.streams.get(id)?.viewerCount(Date.now()) ?? 0;
  }

  /** For tests and benchmarks. */
  segmenter(id: string): Segmenter | undefined {
    return this.streams.get(id)?.segmenter;
  }

  close(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
    for (const off of this.offs) off();
    for (const st of this.streams.values()) st.close();
    this.streams.clear();
  }

  /** For tests: the blocked requests a stream holds and whether its timeout timer is pending. */
  waiting(id: string): { requests: number; timer: boolean } | null {
    const st = this.streams.get(id);
    return st ? { requests: st.waiters.size, timer: st.waiters.armed } : null;
  }

  /** Handle /hls/... requests; false when the path is not ours. */
  async handle(req: IncomingMessage, res: ServerResponse, url: HlsTarget): Promise<boolean> {
    return this.answer(req.method ?? 'GET', url.pathname, url.search, new NodeReply(req, res));
  }

  /**
   * Answer an /hls/ request through `reply`, synchronously; false when the path is not ours. `pathname` and `search`
   * (with its `?`, or '') as a URL would give them: app.ts passes them straight from the request target for plain
   * /hls/ paths, from Node's server (a NodeReply) or the HTTP front door.
   */
  answer(method: string, pathname: string, search: string, reply: HlsReply): boolean {
    if (!pathname.startsWith('/hls/')) return false;
    this.requests++;
    if (method === 'OPTIONS') {
      reply.send(204, PREFLIGHT, NO_BODY, true);
      return true;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      sendStatus(reply, 405, 'method not allowed');
      return true;
    }
    const head = method === 'HEAD';
    const m = HLS_PATH.exec(pathname);
    if (!m || !STREAM_ID_PATTERN.test(m[1])) {
      sendStatus(reply, 404, 'not found');
      return true;
    }
    const file = m[2];
    if (file === 'ping') {
      this.ping(reply, search, m[1]);
      return true;
    }
    const st = this.packager(m[1]);
    if (!st) {
      sendStatus(reply, 404, 'no such live stream');
      return true;
    }
    if (file === 'index.m3u8') {
      this.servePlaylist(reply, search, st, head);
      return true;
    }
    const f = NAME.exec(file);
    const seg = st.segmenter;
    if (!f || f[1] !== seg.run) {
      sendStatus(reply, 404, 'not found');
      return true;
    }
    if (f[2] !== undefined) {
      const init = st.inits.get(Number(f[2]));
      if (init) {
        send(reply, 200, 'video/mp4', init, IMMUTABLE, head);
        if (!head) this.bytesOut += init.length;
      } else sendStatus(reply, 404, 'no such init segment');
      return true;
    }
    if (f[3] !== undefined) {
      const s = st.findSegment(Number(f[3]));
      if (s?.complete) {
        send(reply, 200, 'video/mp4', s.parts.map((p) => p.data), IMMUTABLE, head);
        if (!head) for (const p of s.parts) this.bytesOut += p.data.length;
      } else sendStatus(reply, 404, 'no such segment');
      return true;
    }
    const msn = Number(f[4]);
    const index = Number(f[5]);
    const part = st.findPart(msn, index);
    if (!part) {
      // A blocking request for the hinted part (or the one just after it): hold it until it exists.
      const next = seg.nextPart();
      const ahead = msn === next.msn ? index - next.index : msn === next.msn + 1 ? index + 1 : -1;
      if (!seg.ended && ahead >= 0 && ahead <= 1) {
        st.hold(new Waiter(WAIT_PART, msn, index, false, head, reply, performance.now() + st.blockMs()));
        return true;
      }
    }
    if (part) {
      reply.send(200, partHeaders(part), part.data, head);
      if (!head) this.bytesOut += part.data.length;
    } else sendStatus(reply, 404, 'no such part');
    return true;
  }

  /**
   * The viewer beacon. Counted while the stream is packaged; otherwise (ended, not live) answered alike and not counted:
   * a ping never starts packaging, and a player's last pings after the end are no errors in its console.
   */
  private ping(reply: HlsReply, search: string, id: string): void {
    const sid = SID.exec(search.slice(1));
    if (!sid) {
      sendStatus(reply, 400, 'ping needs ?sid=<8 to 64 of A-Z a-z 0-9 _ ->');
      return;
    }
    const st = this.streams.get(id);
    if (st) {
      const address = reply.address();
      st.beacons.note(address, `${address}|${sid[1]}`, Date.now());
    }
    reply.send(204, NO_CONTENT, NO_BODY, true);
  }

  private servePlaylist(reply: HlsReply, search: string, st: HlsStream, head: boolean): void {
    const q = parseHlsQuery(search);
    if (!q) {
      sendStatus(reply, 400, 'bad _HLS_msn/_HLS_part');
      return;
    }
    const { msn, part } = q;
    st.noteViewer(reply, Date.now());
    const seg = st.segmenter;

    if (msn !== null) {
      const next = seg.nextPart();
      // RFC 8216bis 6.2.5.2: more than two segments ahead of the last one is a bad request.
      if (msn > next.msn + 2) {
        sendStatus(reply, 400, '_HLS_msn is too far ahead of the live edge');
        return;
      }
      st.hold(new Waiter(WAIT_PLAYLIST, msn, part ?? -1, q.skip, head, reply, performance.now() + st.blockMs()));
    } else if (!seg.init || seg.segments.length === 0) {
      // Not a single part yet (the publisher just started): wait briefly for the first one.
      st.hold(new Waiter(WAIT_FIRST, -1, -1, q.skip, head, reply, performance.now() + FIRST_PART_WAIT_MS));
    } else st.sendPlaylist(reply, q.skip, false, head);
  }
}
