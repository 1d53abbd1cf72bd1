'use client';

import Link from 'next/link';
import type { ManagedStream } from './api';
import { MAX_TITLE } from '../components/TitleField';

function formatWhen(iso: string | null): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return 'never';
  return new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export interface RowProps {
  stream: ManagedStream;
  busy: boolean;
  /** The title being typed, when renaming. */
  editing: string | null;
  confirm: 'delete' | 'rotate' | null;
  onEdit(title: string | null): void;
  onRename(title: string): void;
  onListed(listed: boolean): void;
  onRecord(record: boolean): void;
  /** Its recordings are shown (the row below). */
  showRecordings: boolean;
  onRecordings(show: boolean): void;
  onConfirm(action: 'delete' | 'rotate' | null): void;
  onDelete(): void;
  onRotate(): void;
}

/** One row of the manager's table: title (renamed inline), state, last live, listed, recorded, rotate key and delete (both asked first). */
export function StreamRow({ stream: s, busy, editing, confirm, onEdit, onRename, onListed, onRecord, showRecordings, onRecordings, onConfirm, onDelete, onRotate }: RowProps) {
  const name = s.title || 'Untitled stream';
  const state = s.state === 'live' ? 'Live' : s.state === 'reconnecting' ? 'Reconnecting' : 'Offline';
  return (
    <tr data-testid="stream-row" data-stream-id={s.id} aria-busy={busy || undefined}>
      <td className="stream-cell">
        {editing !== null ? (
          <form
            className="rename-form"
            onSubmit={(e) => {
              e.preventDefault();
              onRename(editing);
            }}
          >
            <input
              aria-label={`New title for ${name}`}
              maxLength={MAX_TITLE}
              value={editing}
              onChange={(e) => onEdit(e.target.value)}
              onKeyDown={(e) => e.key === 'Escape' && onEdit(null)}
              disabled={busy}
              autoFocus
            />
            <button type="submit" className="button button-small" disabled={busy}>
              Save
            </button>
            <button type="button" className="button button-small" onClick={() => onEdit(null)} disabled={busy}>
              Cancel
            </button>
          </form>
        ) : (
          <div className="stream-title">
            <span data-testid="stream-title">{name}</span>
            <button type="button" className="link-button small" onClick={() => onEdit(s.title)} disabled={busy} aria-label={`Rename ${name}`}>
              Rename
            </button>
          </div>
        )}
        <div className="muted small">
          <Link href={`/watch/${s.id}`}>
            <code>{s.id}</code>
          </Link>
        </div>
      </td>
      <td>
        <span className={`badge ${s.state === 'live' ? 'badge-live' : s.state === 'reconnecting' ? 'badge-reconnecting' : ''}`} data-testid="stream-state">
          {state}
        </span>
        {s.state !== 'idle' && <div className="muted small">{s.viewers} watching</div>}
      </td>
      <td className="small">{s.state === 'live' ? 'now' : formatWhen(s.lastLiveAt)}</td>
      <td>
        <label className="check">
          <input type="checkbox" checked={s.listed} onChange={(e) => onListed(e.target.checked)} disabled={busy} aria-label={`List ${name} on the home page`} />
          {s.listed ? 'Listed' : 'Unlisted'}
        </label>
      </td>
      <td>
        <label className="check" title={s.record === null ? 'The server default (RECORD)' : undefined}>
          <input type="checkbox" checked={s.recorded} onChange={(e) => onRecord(e.target.checked)} disabled={busy || !s.createdAt} aria-label={`Record ${name}`} />
          {s.recorded ? 'Recorded' : 'Not recorded'}
        </label>
        {s.createdAt && (
          <div>
            <button type="button" className="link-button small" onClick={() => onRecordings(!showRecordings)} aria-expanded={showRecordings} aria-label={`Recordings of ${name}`}>
              {showRecordings ? 'Hide recordings' : 'Recordings'}
            </button>
          </div>
        )}
      </td>
      <td className="actions-cell">
        {confirm ? (
          <div role="group" aria-label={confirm === 'delete' ? `Confirm deleting ${name}` : `Confirm rotating the key of ${name}`} className="confirm">
            <span className="small">
              {confirm === 'delete'
                ? s.state !== 'idle'
                  ? 'Delete it? The broadcast ends now and its key stops working.'
                  : 'Delete it? Its key stops working.'
                : 'Rotate the key? The old one stops working for new broadcasts (one live now goes on).'}
            </span>
            <button
              type="button"
              className={`button button-small ${confirm === 'delete' ? 'button-stop' : ''}`}
              onClick={confirm === 'delete' ? onDelete : onRotate}
              disabled={busy}
              autoFocus
            >
              {confirm === 'delete' ? 'Delete stream' : 'Rotate now'}
            </button>
            <button type="button" className="button button-small" onClick={() => onConfirm(null)} disabled={busy}>
              Cancel
            </button>
          </div>
        ) : (
          <div className="row-actions">
            <button type="button" className="button button-small" onClick={() => onConfirm('rotate')} disabled={busy} aria-label={`Rotate key of ${name}`}>
              Rotate key
            </button>
            <button type="button" className="button button-small button-stop" onClick={() => onConfirm('delete')} disabled={busy} aria-label={`Delete ${name}`}>
              Delete
            </button>
          </div>
        )}
      </td>
    </tr>
  );
}
