/** What every player does to the page's <video> (no imports: the latency benchmark serves this file as is). */

/** Autoplay is allowed muted; the viewer unmutes with the page's button. */
export function startMuted(video: HTMLVideoElement): void {
  video.muted = true;
  video.play().catch(() => undefined);
}

/** Wall-clock time of the frame on screen in the browser's own HLS player (Safari: the playlist's PROGRAM-DATE-TIME). */
export function nativePlayingDate(video: HTMLVideoElement & { getStartDate?: () => Date }): Date | null {
  if (typeof video.getStartDate !== 'function') return null;
  const start = video.getStartDate();
  return Number.isNaN(start.getTime()) ? null : new Date(start.getTime() + video.currentTime * 1000);
}

export function clearSource(video: HTMLVideoElement): void {
  if (video.getAttribute('src') !== null || video.src) {
    video.removeAttribute('src');
    video.load();
  }
}

export type MediaSourceCtor = typeof MediaSource;

/** ManagedMediaSource (iOS Safari 17.1+) where it is, else MediaSource; null without either. */
export function mediaSourceCtor(): { Ctor: MediaSourceCtor; managed: boolean } | null {
  const w = globalThis as unknown as { ManagedMediaSource?: MediaSourceCtor; MediaSource?: MediaSourceCtor };
  if (w.ManagedMediaSource) return { Ctor: w.ManagedMediaSource, managed: true };
  if (w.MediaSource) return { Ctor: w.MediaSource, managed: false };
  return null;
}
