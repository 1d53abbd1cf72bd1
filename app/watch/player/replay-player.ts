import type Hls from 'hls.js';
import { onFatalErrors } from './hls-errors';
import { clearSource, nativePlayingDate, startMuted } from './media';
import type { Player, PlayerEvents } from './types';

export interface ReplayOptions {
  /** Where to start, seconds from the recording's start (default 0). */
  startAt?: number;
  /** Asked once hls.js has loaded: true when the page no longer wants this player (nothing is attached then). */
  cancelled?: () => boolean;
}

/**
 * A recording's HLS playlist (VOD, or EVENT while it is still being written: rewinding a live broadcast) into
 * `video`: plain hls.js, not low-latency, nothing of the live player's catch-up or part prefetch. It is not live:
 * `behindLive()` is null and the page shows no latency; `playingDate()` is the wall time of the frame on screen
 * (from the playlist's PROGRAM-DATE-TIME), for showing when that moment was.
 */
export async function createReplayPlayer(video: HTMLVideoElement, src: string, events: PlayerEvents, opts: ReplayOptions = {}): Promise<Player | null> {
  const { default: HlsCtor } = await import('hls.js');
  const startAt = Math.max(0, opts.startAt ?? 0);
  if (opts.cancelled?.()) return null;
  if (HlsCtor.isSupported()) return hlsJsReplay(HlsCtor, video, src, events, startAt);
  if (video.canPlayType('application/vnd.apple.mpegurl')) return nativeReplay(video, src, startAt);
  events.onUnsupported('This browser cannot play HLS video.');
  return null;
}

function hlsJsReplay(HlsCtor: typeof Hls, video: HTMLVideoElement, src: string, events: PlayerEvents, startAt: number): Player {
  const hls = new HlsCtor({
    lowLatencyMode: false,
    // Request the init and the start fragment as soon as the playlist is parsed: without it hls.js waits for its
    // next 100 ms tick after the media is attached (bench:record part 5: first segment in ~100 ms sooner).
    startFragPrefetch: true,
    startPosition: startAt,
    // An EVENT playlist is "live" to hls.js; its default liveMaxLatencyDurationCount (Infinity) never pulls the
    // viewer back towards the end, and no catch-up speeds them up.
    maxLiveSyncPlaybackRate: 1,
    backBufferLength: 30,
    manifestLoadingMaxRetry: 2,
  });
  let destroyed = false;
  onFatalErrors(HlsCtor, hls, () => {
    destroy();
    events.onFatal();
  });
  hls.loadSource(src);
  hls.attachMedia(video);
  startMuted(video);

  function destroy() {
    if (destroyed) return;
    destroyed = true;
    hls.destroy();
    clearSource(video);
  }
  return {
    playingDate: () => hls.playingDate,
    behindLive: () => null,
    jumpToLive: () => undefined,
    destroy,
  };
}

function nativeReplay(video: HTMLVideoElement, src: string, startAt: number): Player {
  video.src = src;
  if (startAt > 0) video.addEventListener('loadedmetadata', () => (video.currentTime = startAt), { once: true });
  startMuted(video);
  return {
    playingDate: () => nativePlayingDate(video),
    behindLive: () => null,
    jumpToLive: () => undefined,
    destroy: () => clearSource(video),
  };
}
