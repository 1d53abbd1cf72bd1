'use client';

import { useEffect, useState } from 'react';
import type { Recording } from './useRecordings';
import { lengthOf, localMoment } from './format';

/**
 * The card above the player while a recording plays: what it is (ended when, replaying; or rewound into the live
 * broadcast), the moment on screen, and the way back to live when there is one.
 */
export function ReplayBanner(props: { rec: Recording; rewinding: boolean; liveNow: boolean; playingDate: () => Date | null; onBackToLive: () => void }) {
  const { rec, rewinding, liveNow } = props;
  const moment = useMoment(props.playingDate);
  const headline = rewinding
    ? 'Rewound: you are watching the broadcast so far'
    : rec.endedAt
      ? `The broadcast ended at ${localMoment(rec.endedAt)}; replaying`
      : 'The broadcast has ended; replaying';
  return (
    <div className="replay-banner" role="status" data-testid="replay-banner">
      <div>
        <strong>{headline}</strong>
        <span className="replay-detail">
          {!rewinding && <><span data-testid="replay-title">{rec.title || 'Untitled stream'}</span> · </>}
          Started {localMoment(rec.startedAt)}
          {!rewinding && <>, {lengthOf(rec.durationSeconds)} long</>}
          {moment && <> · on screen: <span data-testid="replay-moment">{moment.toLocaleTimeString()}</span></>}
          {rec.state === 'failed' && <> · the recording stopped early{rec.error ? ` (${rec.error.slice(0, 120)})` : ''}</>}
        </span>
      </div>
      {(rewinding || liveNow) && (
        <button type="button" className="button button-small button-primary" onClick={props.onBackToLive} data-testid="back-to-live">
          {rewinding ? 'Back to live' : 'The stream is live: watch live'}
        </button>
      )}
    </div>
  );
}

function useMoment(playingDate: () => Date | null): Date | null {
  const [moment, setMoment] = useState<Date | null>(null);
  useEffect(() => {
    const t = setInterval(() => setMoment(playingDate()), 500);
    return () => clearInterval(t);
  }, [playingDate]);
  return moment;
}
