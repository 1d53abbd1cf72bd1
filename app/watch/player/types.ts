/**
 * What the watch page needs from whatever plays into its <video>: LL-HLS (hls-player.ts), and the other modes that
 * plug in beside it (realtime over a WebSocket, a recording's replay). The page owns the <video> element and the
 * controls; a player owns the source it attaches and everything it started (workers, sockets, timers).
 */
export interface Player {
  /** Wall-clock time (server clock) of the frame on screen, or null if unknown: the latency readout. */
  playingDate(): Date | null;
  /** Seconds between the playhead and the newest frame this player can reach, or null if not live. */
  behindLive(): number | null;
  /** Back to the live edge (no-op for a player that is not live). */
  jumpToLive(): void;
  /** Stops and detaches everything; the page may start another player on the same <video> after this. */
  destroy(): void;
}

export interface PlayerEvents {
  /** The source failed for good (gone, network): the page goes back to asking the API and may start a new player. */
  onFatal(): void;
  /** The source says the broadcast ended (HLS ENDLIST, realtime close code). */
  onEnded(): void;
  /** Nothing to play with in this browser: a message for the viewer. */
  onUnsupported(message: string): void;
}
