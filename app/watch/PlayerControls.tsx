'use client';

/** The buttons over the picture while something plays. */
export function PlayerControls(props: { muted: boolean; behind: boolean; onMute: () => void; onJumpToLive: () => void; onFullscreen: () => void }) {
  return (
    <div className="player-controls">
      <button type="button" className="button button-small" onClick={props.onMute} aria-pressed={!props.muted} data-testid="unmute">
        {props.muted ? 'Unmute' : 'Mute'}
      </button>
      {props.behind && (
        <button type="button" className="button button-small button-primary" onClick={props.onJumpToLive} data-testid="jump-live">
          Jump to live
        </button>
      )}
      <button type="button" className="button button-small" onClick={props.onFullscreen} aria-label="Fullscreen">
        Fullscreen
      </button>
    </div>
  );
}
