'use client';

import type { Recording } from './useRecordings';
import { lengthOf, localMoment } from './format';

/** The stream's past broadcasts under the player, newest first; picking one plays it. */
export function RecordingsList(props: {
  list: Recording[] | null;
  hasMore: boolean;
  playingId: string | null;
  onPick: (rec: Recording) => void;
  onMore: () => void;
}) {
  if (props.list === null) return null;
  const past = props.list.filter((r) => r.durationSeconds > 0);
  return (
    <section className="panel recordings" aria-labelledby="recordings-title" data-testid="recordings">
      <h2 id="recordings-title">Past broadcasts</h2>
      {past.length === 0 ? (
        <p className="muted small">No recordings of this stream yet.</p>
      ) : (
        <ul className="recordings-list">
          {past.map((r) => (
            <li key={r.id}>
              <button
                type="button"
                className="recording-item"
                aria-current={r.id === props.playingId ? 'true' : undefined}
                onClick={() => props.onPick(r)}
                data-testid="recording-item"
                data-rid={r.id}
              >
                <span className="recording-title" data-testid="recording-title">{r.title || 'Untitled stream'}</span>
                <span className="recording-date">{localMoment(r.startedAt)}</span>
                <span className="recording-length">{lengthOf(r.durationSeconds)}</span>
                {r.state === 'recording' && <span className="badge badge-live">Live now</span>}
                {r.state === 'failed' && <span className="badge">Incomplete</span>}
                {r.id === props.playingId && <span className="badge">Playing</span>}
              </button>
            </li>
          ))}
        </ul>
      )}
      {props.hasMore && (
        <button type="button" className="button button-small" onClick={props.onMore}>
          Older broadcasts
        </button>
      )}
    </section>
  );
}
