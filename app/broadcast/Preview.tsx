'use client';

import { useEffect, useRef } from 'react';
import { formatDuration } from './format';
import type { Source } from './useMediaSource';

interface PreviewProps {
  preview: MediaStream | null;
  source: Source;
  opening: boolean;
  mediaError: string | null;
  /** On air: live or reconnecting since `liveSince`. */
  onAir: { live: boolean; since: number; now: number } | null;
}

/** The stage: what the camera or the shared screen shows (the camera mirrored), with the on-air badge and time. */
export function Preview({ preview, source, opening, mediaError, onAir }: PreviewProps) {
  const videoRef = useRef<HTMLVideoElement>(null);

  useEffect(() => {
    const v = videoRef.current;
    if (!v || v.srcObject === preview) return;
    v.srcObject = preview;
    if (preview) void v.play().catch(() => undefined);
  }, [preview]);

  return (
    <div className="stage" data-testid="preview">
      <video
        ref={videoRef}
        muted
        playsInline
        autoPlay
        className={source === 'camera' ? 'mirrored' : undefined}
        aria-label={source === 'camera' ? 'Camera preview (mirrored)' : 'Screen preview'}
        hidden={!preview}
      />
      {!preview && (
        <div className="stage-message">
          <strong>{source === 'camera' ? 'Camera preview' : 'Screen preview'}</strong>
          <span>
            {opening
              ? 'Starting the camera… allow access when the browser asks.'
              : mediaError
                ? 'No picture: see the message above.'
                : 'Pick a camera, or share a screen or window.'}
          </span>
        </div>
      )}
      {onAir && (
        <div className="stage-overlay" aria-hidden="true">
          <span className={`badge ${onAir.live ? 'badge-live' : 'badge-reconnecting'}`}>{onAir.live ? 'Live' : 'Reconnecting'}</span>
          <span className="stage-time">{formatDuration(onAir.now - onAir.since)}</span>
        </div>
      )}
    </div>
  );
}
