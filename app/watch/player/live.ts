import { createHlsPlayer } from './hls-player';
import type { Player, PlayerEvents } from './types';

/** The live player for stream `id`: which mode plays a live stream is decided here, in one place. */
export function startLivePlayer(video: HTMLVideoElement, id: string, events: PlayerEvents): Promise<Player | null> {
  return createHlsPlayer(video, `/hls/${encodeURIComponent(id)}/index.m3u8`, events);
}
