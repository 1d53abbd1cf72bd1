'use client';

import { REWIND_S } from './choose';

/** While live and recorded: go back into the broadcast so far (the recording in progress, with a seek bar). */
export function RewindOffer(props: { onRewind: () => void }) {
  return (
    <div className="rewind-offer">
      <button type="button" className="button button-small" onClick={props.onRewind} data-testid="rewind" title={`Back ${REWIND_S} s; drag the bar to go further`}>
        ⏪ Rewind
      </button>
      <span className="muted small">Missed something? Go back into the broadcast so far.</span>
    </div>
  );
}
