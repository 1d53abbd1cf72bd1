/**
 * The in-process LL-HLS packager: one segmenter per live stream, fed by the hub like any
 * subscriber, and the HTTP handler for /hls/<id>/... with blocking playlist reload,
 * blocking preload-hinted parts and delta playlists. Everything is served from memory.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MediaPacket } from '../codec/flv';
import type { Hub, StreamInit, SubscriberSink } from '../media/hub';
import { STREAM_ID_PATTERN } from '../media/registry';
import { type PlaylistOptions, renderPlaylist, targetDuration } from './playlist';
import { Segmenter, type Part, type Segment } from './segmenter';

export interface HlsOptions {
  segmentTarget: number;
  partTarget: number;
  /** Segments in the playlist (>= 6). */
  windowSegments: number;
  /** Longest a blocking request is held, ms (at most; also bounded by 3 target durations). */
  maxBlockMs: number;
  /** Most blocked requests held per stream. */
  maxWaiters: number;
  /** How long an ended stream's playlist (with ENDLIST) stays available, ms. */
  keepEndedMs: number;
  log?: { warn(obj: object, msg: string): void };
}

const DEFAULTS: HlsOptions = {
  segmentTarget: 1,
  partTarget: 0.2,
  windowSegments: 7,
  maxBlockMs: 10_000,
  maxWaiters: 20_000,
  keepEndedMs: 30_000,
};

const VIEWER_WINDOW_MS = 6_000;

interface Waiter {
  /** Part requests are answered before playlist requests: a viewer that asked for the part needs it first. */
  part: boolean;
  ready: () => boolean;
  resolve: (ok: boolean) => void;
}

class HlsStream implements SubscriberSink {
  readonly kind = 'hls';
  segmenter: Segmenter;
  inits = new Map<number, Buffer>();
  waiters = new Set<Waiter>();
  unsubscribe: () => void = () => undefined;
  endTimer: ReturnType<typeof setTimeout> | null = null;
  viewers = new Map<string, number>();
  /** Rendered playlists (full and delta) until the next change: every blocked viewer gets the same bytes. */
  private rendered: { full: Buffer | null; delta: Buffer | null } = { full: null, delta: null };

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
    });
    s.onChange = () => this.changed();
    return s;
  }

  playlist(skip: boolean, render: () => string): Buffer {
    const key = skip ? 'delta' : 'full';
    return (this.rendered[key] ??= Buffer.from(render()));
  }

  private changed(): void {
    this.rendered = { full: null, delta: null };
    const s = this.segmenter;
    if (s.init && !this.inits.has(s.initVersion)) this.inits.set(s.initVersion, s.init);
    if (this.inits.size > 1) {
      const used = new Set(s.segments.map((x) => x.initVersion));
      used.add(s.initVersion);
      for (const v of this.inits.keys()) if (!used.has(v)) this.inits.delete(v);
    }
    for (const pass of [true, false]) {
      for (const w of this.waiters) {
        if (w.part === pass && w.ready()) {
          this.waiters.delete(w);
          w.resolve(true);
        }
      }
    }
  }

  // SubscriberSink
  start(init: StreamInit): void {
    if (this.endTimer) clearTimeout(this.endTimer);
    this.endTimer = null;
    this.segmenter.restart();
    for (const cfg of [init.videoConfig, init.audioConfig]) if (cfg) this.segmenter.packet(cfg);
    for (const p of init.gop) this.segmenter.packet(p);
  }
  packet(p: MediaPacket): void {
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

  noteViewer(key: string, now: number): void {
    this.viewers.set(key, now);
    if (this.viewers.size > 50_000) this.pruneViewers(now);
  }

  viewerCount(now: number): number {
    this.pruneViewers(now);
    return this.viewers.size;
  }

  private pruneViewers(now: number): void {
    for (const [k, t] of this.viewers) if (now - t > VIEWER_WINDOW_MS) this.viewers.delete(k);
  }

  close(): void {
    if (this.endTimer) clearTimeout(this.endTimer);
    for (const w of this.waiters) w.resolve(false);
    this.waiters.clear();
    this.unsubscribe();
  }
}

function send(res: ServerResponse, status: number, type: string, body: Buffer | string | Buffer[], cache: string, head: boolean): void {
  const parts = Array.isArray(body) ? body : [typeof body === 'string' ? Buffer.from(body) : body];
  const length = parts.reduce((n, b) => n + b.length, 0);
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': length,
    'Cache-Control': cache,
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': 'Content-Length, Date, Age',
  });
  if (head) res.end();
  else if (parts.length === 1) res.end(parts[0]); // headers and body in one write
  else {
    for (const b of parts) res.write(b);
    res.end();
  }
}

function sendStatus(res: ServerResponse, status: number, message: string): void {
  send(res, status, 'text/plain; charset=utf-8', `${message}\n`, 'no-store', false);
}

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
const NAME = /^([0-9a-f]{8})-(?:init(\d{1,9})\.mp4|seg(\d{1,12})\.m4s|part(\d{1,12})\.(\d{1,6})\.m4s)$/;
const IMMUTABLE = 'public, max-age=31536000, immutable';

export class HlsService {
  readonly options: HlsOptions;
  private streams = new Map<string, HlsStream>();
  private offs: Array<() => void> = [];

  constructor(
    private readonly hub: Hub,
    options: Partial<HlsOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.offs.push(
      hub.events.on('publish', ({ id }) => this.onPublish(id)),
      hub.events.on('end', ({ id }) => this.onEnd(id)),
    );
  }

  private playlistOptions(): PlaylistOptions {
    return {
      segmentTarget: this.options.segmentTarget,
      partTarget: this.options.partTarget,
      windowSegments: this.options.windowSegments,
      partSegments: 3,
    };
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
    st = new HlsStream(id, this);
    this.streams.set(id, st);
    st.unsubscribe = this.hub.subscribe(id, st);
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
    for (const off of this.offs) off();
    for (const st of this.streams.values()) st.close();
    this.streams.clear();
  }

  /** Wait until `ready()` or the time limit; resolves true when ready. */
  private wait(st: HlsStream, ready: () => boolean, ms: number, part = false): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    if (st.waiters.size >= this.options.maxWaiters) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w: Waiter = {
        part,
        ready,
        resolve: (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => {
        st.waiters.delete(w);
        resolve(ready());
      }, ms);
      st.waiters.add(w);
    });
  }

  private blockMs(st: HlsStream): number {
    return Math.min(this.options.maxBlockMs, 3 * 1000 * targetDuration(st.segmenter, this.playlistOptions()));
  }

  /** Handle /hls/... requests; false when the path is not ours. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const m = /^\/hls\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (!url.pathname.startsWith('/hls/')) return false;
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
        'Access-Control-Allow-Headers': 'Range, Content-Type',
        'Access-Control-Max-Age': '86400',
      });
      res.end();
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendStatus(res, 405, 'method not allowed');
      return true;
    }
    const head = req.method === 'HEAD';
    if (!m || !STREAM_ID_PATTERN.test(m[1])) {
      sendStatus(res, 404, 'not found');
      return true;
    }
    const st = this.streams.get(m[1]);
    if (!st) {
      sendStatus(res, 404, 'no such live stream');
      return true;
    }
    const file = m[2];
    if (file === 'index.m3u8') {
      await this.servePlaylist(req, res, url, st, head);
      return true;
    }
    const f = NAME.exec(file);
    const seg = st.segmenter;
    if (!f || f[1] !== seg.run) {
      sendStatus(res, 404, 'not found');
      return true;
    }
    if (f[2] !== undefined) {
      const init = st.inits.get(Number(f[2]));
      if (init) send(res, 200, 'video/mp4', init, IMMUTABLE, head);
      else sendStatus(res, 404, 'no such init segment');
      return true;
    }
    if (f[3] !== undefined) {
      const s = st.findSegment(Number(f[3]));
      if (s?.complete) send(res, 200, 'video/mp4', s.parts.map((p) => p.data), IMMUTABLE, head);
      else sendStatus(res, 404, 'no such segment');
      return true;
    }
    const msn = Number(f[4]);
    const index = Number(f[5]);
    let part = st.findPart(msn, index);
    if (!part) {
      // A blocking request for the hinted part (or the one just after it): hold it until it exists.
      const next = seg.nextPart();
      const ahead = msn === next.msn ? index - next.index : msn === next.msn + 1 ? index + 1 : -1;
      if (!seg.ended && ahead >= 0 && ahead <= 1) {
        await this.wait(st, () => st.findPart(msn, index) !== undefined || st.segmenter.ended || (st.findSegment(msn)?.complete ?? false), this.blockMs(st), true);
        part = st.findPart(msn, index);
      }
    }
    if (part) send(res, 200, 'video/mp4', part.data, IMMUTABLE, head);
    else sendStatus(res, 404, 'no such part');
    return true;
  }

  private async servePlaylist(req: IncomingMessage, res: ServerResponse, url: URL, st: HlsStream, head: boolean): Promise<void> {
    const q = url.searchParams;
    const msnRaw = q.get('_HLS_msn');
    const partRaw = q.get('_HLS_part');
    const skipRaw = q.get('_HLS_skip');
    const intParam = (v: string | null) => (v !== null && /^\d{1,12}$/.test(v) ? Number(v) : null);
    const msn = intParam(msnRaw);
    const part = intParam(partRaw);
    if ((msnRaw !== null && msn === null) || (partRaw !== null && part === null) || (part !== null && msn === null)) {
      sendStatus(res, 400, 'bad _HLS_msn/_HLS_part');
      return;
    }
    const ua = String(req.headers['user-agent'] ?? '').slice(0, 200);
    st.noteViewer(`${req.socket.remoteAddress ?? ''}|${ua}`, Date.now());
    const seg = st.segmenter;

    if (msn !== null) {
      const next = seg.nextPart();
      // RFC 8216bis 6.2.5.2: more than two segments ahead of the last one is a bad request.
      if (msn > next.msn + 2) {
        sendStatus(res, 400, '_HLS_msn is too far ahead of the live edge');
        return;
      }
      const ready = () => {
        if (st.segmenter.ended) return true;
        const s = st.findSegment(msn);
        if (msn < st.segmenter.mediaSequence) return true;
        if (!s) return false;
        if (part === null) return s.complete;
        return s.parts.length > part || s.complete;
      };
      const ok = await this.wait(st, ready, this.blockMs(st));
      if (!ok) {
        sendStatus(res, 503, 'the requested part did not arrive in time');
        return;
      }
    } else if (!seg.init || seg.segments.length === 0) {
      // Not a single part yet (the publisher just started): wait briefly for the first one.
      await this.wait(st, () => st.segmenter.segments.length > 0 && st.segmenter.segments[0].parts.length > 0, 3000);
      if (!st.segmenter.init || st.segmenter.segments.length === 0) {
        sendStatus(res, 404, 'the stream has no media yet');
        return;
      }
    }
    if (res.destroyed) return;
    const skip = skipRaw === 'YES' || skipRaw === 'v2';
    const text = st.playlist(skip, () => renderPlaylist(st.segmenter, this.playlistOptions(), { skip }));
    const cache = st.segmenter.ended ? 'public, max-age=10' : msn !== null ? 'public, max-age=6' : 'public, max-age=1';
    send(res, 200, PLAYLIST_TYPE, text, cache, head);
  }
}
