'use client';

import type { LiveMode } from './player/live';

const LABEL: Record<LiveMode, string> = { realtime: 'Realtime', hls: 'Standard' };

/** Realtime (WebSocket, lowest delay) or Standard (LL-HLS), and which one plays now. */
export function ModeSwitch(props: { playing: LiveMode | null; onChoose: (m: LiveMode) => void }) {
  return (
    <span className="mode-switch" role="group" aria-label="Playback mode">
      <span className="muted" data-testid="mode" title="Realtime: fMP4 over a WebSocket. Standard: LL-HLS.">
        {props.playing ? LABEL[props.playing] : '—'}
      </span>
      {(['realtime', 'hls'] as const).map((m) => (
        <button
          key={m}
          type="button"
          className="button button-small"
          aria-pressed={props.playing === m}
          disabled={props.playing === m}
          onClick={() => props.onChoose(m)}
          data-testid={`mode-${m}`}
        >
          {LABEL[m]}
        </button>
      ))}
    </span>
  );
}
