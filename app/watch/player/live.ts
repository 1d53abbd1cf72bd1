import { createHlsPlayer } from './hls-player';
import { mediaSourceCtor } from './media';
import type { Player, PlayerEvents } from './types';

/** What plays a live stream: realtime (fMP4 over a WebSocket, ~0.3 s) or LL-HLS ("standard", ~1 s, any browser). */
export type LiveMode = 'realtime' | 'hls';
/** The viewer's choice: a mode, or `auto` (realtime where the browser has MSE, LL-HLS when realtime fails). */
export type ModeChoice = LiveMode | 'auto';

/** Without media this long after starting, realtime gives way to LL-HLS (auto) or fails (forced). */
export const REALTIME_MEDIA_TIMEOUT_MS = 5000;

export interface LiveOptions {
  choice: ModeChoice;
  /** The mode now playing (called again when auto falls back to LL-HLS). */
  onMode(mode: LiveMode): void;
}

export function realtimeAvailable(): boolean {
  return typeof WebSocket !== 'undefined' && mediaSourceCtor() !== null;
}

/** `?mode=realtime|hls` of the page's address, else auto. */
export function modeFromQuery(search: string): ModeChoice {
  const m = new URLSearchParams(search).get('mode');
  return m === 'realtime' || m === 'hls' ? m : 'auto';
}

/**
 * The live player for stream `id`: which mode plays a live stream is decided here, in one place. The Player returned
 * stands for whichever mode plays now (auto mode swaps realtime for LL-HLS behind it).
 */
export function startLivePlayer(video: HTMLVideoElement, id: string, events: PlayerEvents, opts?: LiveOptions): Promise<Player | null> {
  const choice = opts?.choice ?? 'hls';
  const onMode = opts?.onMode ?? (() => undefined);
  const hls = () => {
    onMode('hls');
    return createHlsPlayer(video, `/hls/${encodeURIComponent(id)}/index.m3u8`, events);
  };
  if (choice === 'hls' || (choice === 'auto' && !realtimeAvailable())) return hls();
  if (!realtimeAvailable()) {
    events.onUnsupported('This browser has no Media Source Extensions: choose Standard.');
    return Promise.resolve(null);
  }
  // Its own chunk: a page that plays LL-HLS loads none of it.
  return import('./realtime-player').then(({ createRealtimePlayer }) => realtimeWithFallback(createRealtimePlayer, video, id, events, choice, onMode, hls));
}

/** Realtime, and (auto) LL-HLS in its place when it fails. */
function realtimeWithFallback(
  createRealtimePlayer: typeof import('./realtime-player').createRealtimePlayer,
  video: HTMLVideoElement,
  id: string,
  events: PlayerEvents,
  choice: ModeChoice,
  onMode: (m: LiveMode) => void,
  hls: () => Promise<Player | null>,
): Player {

  let inner: Player | null = null;
  let destroyed = false;
  let fellBack = false;
  const giveUp = (reason: string) => {
    clearTimeout(timer);
    if (destroyed || fellBack) return;
    fellBack = true;
    inner?.destroy();
    inner = null;
    console.warn(`realtime: ${reason}${choice === 'auto' ? ': falling back to LL-HLS' : ''}`);
    if (choice !== 'auto') {
      events.onFatal();
      return;
    }
    hls().then(
      (p) => {
        if (destroyed) p?.destroy();
        else inner = p;
      },
      () => events.onFatal(),
    );
  };
  onMode('realtime');
  const timer = setTimeout(() => giveUp(`no media within ${REALTIME_MEDIA_TIMEOUT_MS / 1000} s`), REALTIME_MEDIA_TIMEOUT_MS);
  const realtime = createRealtimePlayer(video, id, {
    onEnded: () => {
      clearTimeout(timer);
      events.onEnded();
    },
    onFail: giveUp,
    onMedia: () => clearTimeout(timer),
  });
  if (!fellBack) inner = realtime;
  return {
    playingDate: () => inner?.playingDate() ?? null,
    behindLive: () => inner?.behindLive() ?? null,
    jumpToLive: () => inner?.jumpToLive(),
    destroy: () => {
      destroyed = true;
      clearTimeout(timer);
      inner?.destroy();
      inner = null;
    },
  };
}
