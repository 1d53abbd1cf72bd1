/**
 * The viewer beacon: while an LL-HLS player runs, GET /hls/<id>/ping?sid=<this player's session> every 10 s, so the
 * server counts this viewer behind an HTTP cache too (the cache answers the playlists and parts; the ping is never
 * cached). Any player can do the same (README "LL-HLS behind an HTTP cache").
 */
export const BEACON_INTERVAL_MS = 10_000;

/** The ping URL beside a stream's playlist URL, or null if `src` is not one. */
export function pingUrl(src: string, sid: string): string | null {
  const m = /^(.*\/hls\/[^/?#]+\/)index\.m3u8(?:[?#].*)?$/.exec(src);
  return m ? `${m[1]}ping?sid=${sid}` : null;
}

function sessionId(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Start pinging for the player of `src`; the returned function stops it. */
export function startBeacon(src: string): () => void {
  const url = pingUrl(src, sessionId());
  if (!url) return () => undefined;
  const ping = () => {
    fetch(url, { cache: 'no-store', credentials: 'omit' }).catch(() => undefined);
  };
  ping();
  const timer = setInterval(ping, BEACON_INTERVAL_MS);
  return () => clearInterval(timer);
}
