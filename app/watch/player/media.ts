/** What every player does to the page's <video> (no imports: the latency benchmark serves this file as is). */

/** Autoplay is allowed muted; the viewer unmutes with the page's button. */
export function startMuted(video: HTMLVideoElement): void {
  video.muted = true;
  video.play().catch(() => undefined);
}

export function clearSource(video: HTMLVideoElement): void {
  if (video.getAttribute('src') !== null || video.src) {
    video.removeAttribute('src');
    video.load();
  }
}
