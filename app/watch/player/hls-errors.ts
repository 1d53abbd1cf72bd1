import type Hls from 'hls.js';

/**
 * hls.js's fatal errors, as both our hls.js players take them: a media error is recovered in place; anything else
 * (the stream or the network went away) is the end of this player: `gone` (which destroys it and tells the page).
 */
export function onFatalErrors(HlsCtor: typeof Hls, hls: Hls, gone: () => void): void {
  hls.on(HlsCtor.Events.ERROR, (_e, data) => {
    if (!data.fatal) return;
    if (data.type === HlsCtor.ErrorTypes.MEDIA_ERROR) {
      hls.recoverMediaError();
      return;
    }
    gone();
  });
}
