/**
 * Realtime mode: the `/realtime/<id>` WebSocket (docs/realtime-protocol.md) into Media Source Extensions. One
 * SourceBuffer in 'segments' mode (the fragments carry the stream's own timeline), fed through an AppendQueue; the
 * buffer is kept small and near the live edge by realtime-buffer.ts; the clock text messages map media time to the
 * server's wall clock for the latency readout.
 *
 * The player reports, and live.ts decides: `onFail` (the socket could not open, closed with an error, MSE refused
 * the media) lets the page fall back to LL-HLS; `onEnded` is close code 1000; 1012 (server restarting) reconnects
 * here with backoff.
 *
 * Imports only sibling modules without further imports, so the latency benchmark's viewer page serves them as is.
 */
import { AppendQueue } from './append-queue';
import { initCodecs, isInitSegment } from './fmp4-codecs';
import { clearSource, mediaSourceCtor, startMuted } from './media';
import { decide, LIVE_MARGIN_S, liveEdge, StallGuard, Trough } from './realtime-buffer';
import type { Player } from './types';

export interface RealtimeEvents {
  /** Close code 1000: the broadcast ended. */
  onEnded(): void;
  /** This mode cannot go on (why, for the log and tests). */
  onFail(reason: string): void;
  /** The first media was appended (the page's "no media within a few seconds" check). */
  onMedia(): void;
}

const TICK_MS = 200;
/** Bytes waiting for the SourceBuffer before this mode gives up (a decoder far behind the socket). */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
const RECONNECT_MS = [500, 1000, 2000, 4000, 8000];

/** ws(s)://host/realtime/<id> for this page. */
export function realtimeUrl(id: string, loc: Pick<Location, 'protocol' | 'host'> = location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/realtime/${encodeURIComponent(id)}`;
}

interface Clock {
  mediaMs: number;
  wallMs: number;
}

/** The clock out of a text message, or null (unknown messages are ignored). */
export function parseClock(text: string): Clock | null {
  try {
    const c = (JSON.parse(text) as { clock?: Partial<Clock> })?.clock;
    return c && Number.isFinite(c.mediaMs) && Number.isFinite(c.wallMs) ? { mediaMs: c.mediaMs!, wallMs: c.wallMs! } : null;
  } catch {
    return null;
  }
}

/** `url`: the socket's address (the page's own /realtime/<id> unless given: the latency benchmark's viewer page). */
export function createRealtimePlayer(video: HTMLVideoElement, id: string, events: RealtimeEvents, url = realtimeUrl(id)): Player & { steering(): Steering } {
  const found = mediaSourceCtor();
  let destroyed = false;
  let attempt = 0;
  let session: { stop(): void } | null = null;
  let clock: Clock | null = null;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** The buffer's low-point target: raised after stalls (kept across reconnects: the same machine and stream). */
  const guard = new StallGuard();

  const fail = (reason: string) => {
    if (destroyed) return;
    destroy();
    events.onFail(reason);
  };

  function connect(): void {
    if (!found) return fail('no MediaSource');
    const { Ctor, managed } = found;
    const ms = new Ctor();
    if (managed) (video as HTMLVideoElement & { disableRemotePlayback: boolean }).disableRemotePlayback = true;
    const objectUrl = URL.createObjectURL(ms);
    video.src = objectUrl;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      URL.revokeObjectURL(objectUrl);
      clearSource(video);
      return fail(`WebSocket: ${String(e)}`);
    }
    ws.binaryType = 'arraybuffer';
    let queue: AppendQueue | null = null;
    let sb: SourceBuffer | null = null;
    let mime: string | null = null;
    let open = false;
    let media = false;
    let stopped = false;
    const pending: Uint8Array[] = [];
    const trough = new Trough();
    /** What is buffered ahead of the playhead now (s), or null. */
    const ahead = (): number | null => {
      if (!sb || ms.readyState !== 'open') return null;
      try {
        const edge = liveEdge(sb.buffered);
        return edge === null ? null : edge - video.currentTime;
      } catch {
        return null;
      }
    };

    const take = (bytes: Uint8Array) => {
      if (isInitSegment(bytes)) {
        const codecs = initCodecs(bytes);
        if (!codecs) return fail('unreadable init segment');
        const type = `video/mp4; codecs="${codecs}"`;
        if (!Ctor.isTypeSupported(type)) return fail(`unsupported: ${type}`);
        if (!sb) {
          try {
            sb = ms.addSourceBuffer(type);
            sb.mode = 'segments';
          } catch (e) {
            return fail(`addSourceBuffer: ${String(e)}`);
          }
          queue = new AppendQueue(sb, {
            maxBytes: MAX_QUEUED_BYTES,
            onOverflow: () => fail('the decoder fell too far behind'),
            onError: (e) => fail(`append: ${String(e)}`),
            onAppended: () => {
              if (media) return;
              media = true;
              attempt = 0;
              startMuted(video);
              events.onMedia();
            },
          });
          sb.addEventListener('updateend', tick);
        } else if (type !== mime) queue!.push({ changeType: type });
        mime = type;
      }
      if (!queue) return; // media before any init: nothing to decode it with
      // Just before new media: the bottom of the buffer's sawtooth (realtime-buffer.ts).
      const a = media && !video.paused && !video.seeking ? ahead() : null;
      if (a !== null) trough.add(performance.now(), a, video.currentTime);
      queue.push({ append: bytes });
    };

    const tick = () => {
      if (stopped || !sb || !queue || ms.readyState !== 'open') return;
      let buffered: TimeRanges;
      try {
        buffered = sb.buffered;
      } catch {
        return;
      }
      const now = performance.now();
      const a = decide({ currentTime: video.currentTime, buffered, catchingUp: video.playbackRate > 1, slowingDown: video.playbackRate < 1, low: trough.low(now, video.currentTime), target: guard.target(now) });
      if (a.seek !== null && Math.abs(a.seek - video.currentTime) > 0.01) {
        video.currentTime = a.seek;
        trough.reset();
      }
      if (video.playbackRate !== a.rate) video.playbackRate = a.rate;
      if (a.removeTo !== null) queue.push({ remove: [0, a.removeTo] });
      if (media && video.paused && !video.ended && video.readyState >= 2) video.play().catch(() => undefined);
    };
    const timer = setInterval(tick, TICK_MS);
    // A stall while playing (not a seek's wait): keep more buffer from now on. The low point is measured afresh once
    // playback goes on (what was buffered while stalled says nothing of it).
    // Only once this session has played: the 'waiting' before its first frame is the start, not a stall.
    let played = false;
    const onWaiting = () => {
      if (stopped || !played || video.seeking) return;
      guard.stalled(performance.now());
    };
    const onPlaying = () => {
      played = true;
      trough.reset();
    };
    video.addEventListener('waiting', onWaiting);
    video.addEventListener('playing', onPlaying);

    ms.addEventListener('sourceopen', () => {
      open = true;
      for (const b of pending.splice(0)) take(b);
    });
    ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
      if (stopped) return;
      if (typeof e.data === 'string') {
        const c = parseClock(e.data);
        if (c) clock = c;
        return;
      }
      const bytes = new Uint8Array(e.data);
      if (open) take(bytes);
      else if (pending.push(bytes) > 1000) fail('MediaSource did not open');
    };
    ws.onclose = (e: CloseEvent) => {
      if (stopped) return;
      if (e.code === 1000) {
        stop(false);
        try {
          if (ms.readyState === 'open' && !sb?.updating) ms.endOfStream();
        } catch {
          /* already ended or detached */
        }
        events.onEnded();
      } else if (e.code === 1012 && attempt < RECONNECT_MS.length) {
        stop(true);
        reconnectTimer = setTimeout(() => !destroyed && connect(), RECONNECT_MS[attempt++]);
      } else fail(`socket closed: ${e.code}${e.reason ? ` ${e.reason}` : ''}`);
    };

    let detached = false;
    function stop(detach: boolean): void {
      if (!stopped) {
        stopped = true;
        clearInterval(timer);
        video.removeEventListener('waiting', onWaiting);
        video.removeEventListener('playing', onPlaying);
        queue?.close();
        ws.onmessage = ws.onclose = null;
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
      }
      if (detach && !detached) {
        detached = true;
        clearSource(video);
        URL.revokeObjectURL(objectUrl);
      }
    }
    session = {
      stop: () => {
        stop(true);
      },
    };
    current = {
      edge: () => (sb && ms.readyState !== 'closed' ? safeEdge(sb) : null),
      steering: () => ({ lowMs: ms1(trough.low(performance.now(), video.currentTime)), targetMs: ms1(guard.target(performance.now())) }),
    };
  }

  let current: { edge(): number | null; steering(): Steering } = { edge: () => null, steering: () => ({ lowMs: null, targetMs: null }) };
  const safeEdge = (sb: SourceBuffer) => {
    try {
      return liveEdge(sb.buffered);
    } catch {
      return null;
    }
  };

  function destroy(): void {
    if (destroyed) return;
    destroyed = true;
    clearTimeout(reconnectTimer);
    session?.stop();
    session = null;
  }

  connect();
  return {
    playingDate: () => (clock && !destroyed ? new Date(clock.wallMs + (video.currentTime * 1000 - clock.mediaMs)) : null),
    behindLive: () => {
      const edge = current.edge();
      return edge === null ? null : Math.max(0, edge - video.currentTime);
    },
    jumpToLive: () => {
      const edge = current.edge();
      if (edge !== null) video.currentTime = Math.max(0, edge - LIVE_MARGIN_S);
      video.play().catch(() => undefined);
    },
    steering: () => current.steering(),
    destroy,
  };
}

/** What the buffer steering sees now (ms; for the latency benchmark's details): its low point and its target. */
export interface Steering {
  lowMs: number | null;
  targetMs: number | null;
}
const ms1 = (s: number | null): number | null => (s === null ? null : Math.round(s * 1000));
