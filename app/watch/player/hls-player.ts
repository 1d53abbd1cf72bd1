import type Hls from 'hls.js';
import { attachCatchUp } from '../catch-up';
import { WATCH_HLS_CONFIG } from '../hls-config';
import { partPrefetch } from '../part-prefetch';
import { onFatalErrors } from './hls-errors';
import { startBeacon } from './beacon';
import { clearSource, nativePlayingDate, startMuted } from './media';
import type { Player, PlayerEvents } from './types';

/** LL-HLS into `video`: hls.js with our part prefetch and catch-up, or the browser's own HLS (Safari on iOS). */
export async function createHlsPlayer(video: HTMLVideoElement, src: string, events: PlayerEvents): Promise<Player | null> {
  const { default: HlsCtor } = await import('hls.js');
  // Counted as a viewer behind an HTTP cache too (beacon.ts), until the player goes or gives up.
  let stopBeacon = (): void => undefined;
  const ours: PlayerEvents = {
    ...events,
    onFatal: () => {
      stopBeacon();
      events.onFatal();
    },
  };
  const player = HlsCtor.isSupported() ? hlsJsPlayer(HlsCtor, video, src, ours) : video.canPlayType('application/vnd.apple.mpegurl') ? nativePlayer(video, src) : null;
  if (!player) {
    events.onUnsupported('This browser cannot play HLS video.');
    return null;
  }
  stopBeacon = startBeacon(src);
  return {
    ...player,
    destroy: () => {
      stopBeacon();
      player.destroy();
    },
  };
}

function hlsJsPlayer(HlsCtor: typeof Hls, video: HTMLVideoElement, src: string, events: PlayerEvents): Player {
  // Fetches each preload-hinted part as the playlist naming it arrives, as Safari does (part-prefetch.ts).
  const prefetch = partPrefetch(HlsCtor.DefaultConfig.loader);
  const hls = new HlsCtor({ ...WATCH_HLS_CONFIG, ...prefetch.config, lowLatencyMode: true, manifestLoadingMaxRetry: 2 });
  let destroyed = false;
  hls.once(HlsCtor.Events.DESTROYING, () => prefetch.prefetcher.stop());
  hls.on(HlsCtor.Events.ERROR, (_e, data) => prefetch.prefetcher.onPlayerError(data.details));
  // The stream went away (or the network did).
  onFatalErrors(HlsCtor, hls, () => {
    destroy();
    events.onFatal();
  });
  hls.on(HlsCtor.Events.LEVEL_UPDATED, (_e, data) => {
    if (!data.details.live) events.onEnded();
  });
  hls.loadSource(src);
  hls.attachMedia(video);
  // Plays a little faster when behind with under 1 s buffered, where hls.js does not; detached with hls.
  const detach = attachCatchUp(hls, video);
  hls.once(HlsCtor.Events.DESTROYING, detach);
  startMuted(video);

  function destroy() {
    if (destroyed) return;
    destroyed = true;
    hls.destroy();
    clearSource(video);
  }
  return {
    playingDate: () => hls.playingDate,
    behindLive: () => (hls.liveSyncPosition !== null ? hls.liveSyncPosition - video.currentTime : null),
    jumpToLive: () => {
      if (hls.liveSyncPosition) video.currentTime = hls.liveSyncPosition;
      video.play().catch(() => undefined);
    },
    destroy,
  };
}

function nativePlayer(video: HTMLVideoElement, src: string): Player {
  video.src = src; // Safari on iOS: native HLS (LL-HLS included)
  startMuted(video);
  return {
    playingDate: () => nativePlayingDate(video),
    behindLive: () => null,
    jumpToLive: () => {
      const end = video.seekable.length ? video.seekable.end(video.seekable.length - 1) : NaN;
      if (Number.isFinite(end)) video.currentTime = end;
      video.play().catch(() => undefined);
    },
    destroy: () => clearSource(video),
  };
}
