'use client';

import { CopyField } from '../components/CopyField';
import type { StreamView } from './useStreamStatus';

/** The side panel: the stream's addresses for other players. */
export function WatchElsewhere({ urls }: { urls?: StreamView['urls'] }) {
  return (
    <aside className="panel">
      <h2>Watch elsewhere</h2>
      {urls ? (
        <>
          <CopyField label="ffplay (RTMP)" value={`ffplay ${urls.rtmpPlay}`} />
          <CopyField label="VLC: Media › Open Network Stream" value={urls.rtmpPlay} />
          <CopyField label="HLS (Safari, VLC, ffplay)" value={urls.hls} />
        </>
      ) : (
        <p className="muted">Addresses appear here once the stream is known.</p>
      )}
      <p className="muted" style={{ fontSize: 13 }}>
        Keys: <kbd>m</kbd> mute, <kbd>f</kbd> fullscreen.
      </p>
    </aside>
  );
}
