'use client';

import Link from 'next/link';
import { useCallback, useEffect, useState } from 'react';
import { formatDuration } from '../lib/clock';
import { SignedOutError } from '../lib/session';
import { deleteRecording, listRecordings, type StreamRecording } from './api';

function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function size(bytes: number): string {
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

const STATE: Record<StreamRecording['state'], string> = { recording: 'Recording now', ended: 'Ended', failed: 'Stopped' };

/** A stream's recordings in the manager: replay, download, delete (asked first). */
export function RecordingsPanel({ streamId, name, onSignedOut }: { streamId: string; name: string; onSignedOut: () => void }) {
  const [items, setItems] = useState<StreamRecording[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const fail = useCallback(
    (err: unknown) => {
      if (err instanceof SignedOutError) onSignedOut();
      else setError((err as Error).message);
    },
    [onSignedOut],
  );

  const load = useCallback(
    async (cursor: string | null) => {
      try {
        const page = await listRecordings(streamId, cursor);
        setItems((old) => (cursor ? [...(old ?? []), ...page.recordings.filter((r) => !(old ?? []).some((o) => o.id === r.id))] : page.recordings));
        setNext(page.next);
        setError(null);
      } catch (err) {
        fail(err);
      }
    },
    [streamId, fail],
  );

  useEffect(() => {
    void load(null);
  }, [load]);

  const remove = async (rid: string) => {
    setBusy(rid);
    try {
      await deleteRecording(rid);
      setItems((list) => (list ?? []).filter((r) => r.id !== rid));
      setConfirm(null);
      setError(null);
    } catch (err) {
      fail(err);
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className="recordings-panel" data-testid="recordings-panel" aria-label={`Recordings of ${name}`}>
      {error && (
        <div className="alert alert-error" role="alert">
          {error}
        </div>
      )}
      {!items ? (
        <p className="muted small">Loading…</p>
      ) : items.length === 0 ? (
        <p className="muted small" data-testid="recordings-empty">
          No recordings of this stream.
        </p>
      ) : (
        <ul className="recordings-list">
          {items.map((r) => (
            <li key={r.id} data-testid="recording-item" data-recording-id={r.id} aria-busy={busy === r.id || undefined}>
              <span>
                {r.title && (
                  <>
                    <span data-testid="recording-title">{r.title}</span> ·{' '}
                  </>
                )}
                {when(r.startedAt)} · {formatDuration(r.durationSeconds * 1000)} · {size(r.bytes)} · <span title={r.error ?? undefined}>{STATE[r.state]}</span>
              </span>
              {confirm === r.id ? (
                <span role="group" aria-label={`Confirm deleting the recording of ${when(r.startedAt)}`} className="confirm">
                  <span className="small">Delete this recording? It cannot be undone.</span>
                  <button type="button" className="button button-small button-stop" onClick={() => void remove(r.id)} disabled={busy === r.id} autoFocus>
                    Delete recording
                  </button>
                  <button type="button" className="button button-small" onClick={() => setConfirm(null)} disabled={busy === r.id}>
                    Cancel
                  </button>
                </span>
              ) : (
                <span className="row-actions">
                  {r.state !== 'recording' && (
                    <>
                      <Link className="button button-small" href={`/watch/${encodeURIComponent(streamId)}?recording=${r.id}`}>
                        Replay
                      </Link>
                      <a className="button button-small" href={r.urls.mp4} download>
                        Download
                      </a>
                    </>
                  )}
                  <button type="button" className="button button-small button-stop" onClick={() => setConfirm(r.id)} aria-label={`Delete the recording of ${when(r.startedAt)}`}>
                    Delete
                  </button>
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      {next && (
        <button type="button" className="button button-small" onClick={() => void load(next)}>
          More recordings
        </button>
      )}
    </div>
  );
}
