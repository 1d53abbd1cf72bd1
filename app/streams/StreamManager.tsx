'use client';

import Link from 'next/link';
import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { CopyField } from '../components/CopyField';
import { OperatorBar, SignInPanel } from '../components/SignIn';
import { SignedOutError } from '../lib/session';
import { useSession } from '../lib/useSession';
import { createManaged, deleteStream, listAll, rotateKey, updateStream, type IssuedKey, type ManagedStream } from './api';

const MAX_TITLE = 120;
const REFRESH_MS = 5000;

/** /streams: the operator's stream manager, or how to sign in. */
export function StreamsGate() {
  const { session, error, refresh, signOut } = useSession();
  if (!session) {
    return error ? (
      <div className="alert alert-error" role="alert">
        <p className="alert-line">{error}</p>
        <button type="button" className="button button-small" onClick={refresh}>
          Try again
        </button>
      </div>
    ) : (
      <p className="muted">Checking sign-in…</p>
    );
  }
  if (!session.signedIn) {
    return (
      <SignInPanel
        title="Sign in to manage streams"
        why={
          session.auth === 'open'
            ? 'Anyone may go live on this server, but listing, renaming and deleting streams and changing keys need the operator token.'
            : 'Listing, creating, renaming and deleting streams and changing their keys need the operator token.'
        }
        onSignedIn={refresh}
      />
    );
  }
  return (
    <>
      <OperatorBar signedIn open={session.auth === 'open'} onSignOut={signOut} manageLink={false} />
      <StreamManager onSignedOut={refresh} />
    </>
  );
}

function formatWhen(iso: string | null): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return 'never';
  return new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function byInterest(a: ManagedStream, b: ManagedStream): number {
  const liveA = a.state !== 'idle' ? 1 : 0;
  const liveB = b.state !== 'idle' ? 1 : 0;
  if (liveA !== liveB) return liveB - liveA;
  return (b.createdAt ?? '').localeCompare(a.createdAt ?? '');
}

interface Issued extends IssuedKey {
  title: string;
  why: 'created' | 'rotated';
}

type Confirm = { id: string; action: 'delete' | 'rotate' } | null;

/** Every stream: create, rename, list or unlist, rotate its key, delete. Refreshes itself every few seconds. */
export function StreamManager({ onSignedOut }: { onSignedOut: () => void }) {
  const [streams, setStreams] = useState<ManagedStream[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState<ReadonlySet<string>>(new Set());
  const [editing, setEditing] = useState<{ id: string; title: string } | null>(null);
  const [confirm, setConfirm] = useState<Confirm>(null);
  const [issued, setIssued] = useState<Issued | null>(null);
  // A refresh that started before a change would bring back what the change replaced: it is dropped.
  const changes = useRef(0);

  const fail = useCallback(
    (err: unknown) => {
      if (err instanceof SignedOutError) onSignedOut();
      else setActionError((err as Error).message);
    },
    [onSignedOut],
  );

  const load = useCallback(async () => {
    const seen = changes.current;
    try {
      const all = await listAll();
      if (seen !== changes.current) return;
      setStreams(all);
      setLoadError(null);
    } catch (err) {
      if (err instanceof SignedOutError) onSignedOut();
      else setLoadError(`Could not load the streams: ${(err as Error).message}`);
    }
  }, [onSignedOut]);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      await load();
      if (!stopped) timer = setTimeout(() => void tick(), REFRESH_MS);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [load]);

  /** Run a change on one stream: marks it busy, reports errors, refreshes the list afterwards. */
  const change = async (id: string, work: () => Promise<void>) => {
    changes.current++;
    setActionError(null);
    setBusy((b) => new Set(b).add(id));
    try {
      await work();
    } catch (err) {
      fail(err);
    } finally {
      setBusy((b) => {
        const n = new Set(b);
        n.delete(id);
        return n;
      });
    }
    changes.current++;
    void load();
  };

  const replace = (s: ManagedStream) => setStreams((list) => (list ?? []).map((x) => (x.id === s.id ? { ...x, ...s } : x)));

  const rename = (s: ManagedStream, title: string) =>
    change(s.id, async () => {
      replace(await updateStream(s.id, { title: title.trim().slice(0, MAX_TITLE) }));
      setEditing(null);
    });

  // The box follows the click at once (a checkbox that waits for the server looks broken); a failure puts it back.
  const setListed = (s: ManagedStream, listed: boolean) =>
    change(s.id, async () => {
      replace({ ...s, listed });
      try {
        replace(await updateStream(s.id, { listed }));
      } catch (err) {
        replace({ ...s, listed: s.listed });
        throw err;
      }
    });

  const remove = (s: ManagedStream) =>
    change(s.id, async () => {
      await deleteStream(s.id);
      setConfirm(null);
      setStreams((list) => (list ?? []).filter((x) => x.id !== s.id));
      if (issued?.id === s.id) setIssued(null);
    });

  const newKey = (s: ManagedStream) =>
    change(s.id, async () => {
      const key = await rotateKey(s.id);
      setConfirm(null);
      setIssued({ ...key, title: s.title, why: 'rotated' });
    });

  const created = (c: Issued) => {
    setIssued(c);
    changes.current++;
    void load();
  };

  return (
    <>
      {issued && <IssuedKeyPanel issued={issued} onDone={() => setIssued(null)} />}
      <CreateForm onCreated={created} onError={fail} />
      {actionError && (
        <div className="alert alert-error" role="alert" data-testid="manager-error">
          {actionError}
        </div>
      )}
      {loadError && (
        <div className="alert alert-error" role="alert">
          {loadError}
        </div>
      )}
      <section className="panel" aria-labelledby="all-streams-heading">
        <h2 id="all-streams-heading">All streams{streams ? ` (${streams.length})` : ''}</h2>
        {!streams ? (
          <p className="muted">Loading…</p>
        ) : streams.length === 0 ? (
          <p className="muted" data-testid="streams-empty">
            No streams yet: create one above, or <Link href="/broadcast">go live</Link> from this browser.
          </p>
        ) : (
          <div className="table-wrap">
            <table className="streams-table" data-testid="streams-table">
              <thead>
                <tr>
                  <th scope="col">Stream</th>
                  <th scope="col">State</th>
                  <th scope="col">Last live</th>
                  <th scope="col">Directory</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {[...streams].sort(byInterest).map((s) => (
                  <StreamRow
                    key={s.id}
                    stream={s}
                    busy={busy.has(s.id)}
                    editing={editing?.id === s.id ? editing.title : null}
                    confirm={confirm?.id === s.id ? confirm.action : null}
                    onEdit={(title) => setEditing(title === null ? null : { id: s.id, title })}
                    onRename={(title) => void rename(s, title)}
                    onListed={(listed) => void setListed(s, listed)}
                    onConfirm={(action) => setConfirm(action ? { id: s.id, action } : null)}
                    onDelete={() => void remove(s)}
                    onRotate={() => void newKey(s)}
                  />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

/** New stream: title and whether the directory lists it. */
function CreateForm({ onCreated, onError }: { onCreated: (c: Issued) => void; onError: (err: unknown) => void }) {
  const [title, setTitle] = useState('');
  const [listed, setListed] = useState(true);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    try {
      const c = await createManaged(title.trim().slice(0, MAX_TITLE), listed);
      onCreated({ id: c.id, key: c.key, urls: c.urls, title: c.title, why: 'created' });
      setTitle('');
    } catch (err) {
      onError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel manager-create" aria-labelledby="create-heading">
      <h2 id="create-heading">New stream</h2>
      <form className="inline-form" onSubmit={(e) => void submit(e)}>
        <div className="field">
          <label htmlFor="new-stream-title">Title</label>
          <input
            id="new-stream-title"
            name="title"
            placeholder="My stream"
            maxLength={MAX_TITLE}
            value={title}
            onChange={(e) => setTitle(e.target.value)}
            disabled={busy}
          />
        </div>
        <label className="check">
          <input type="checkbox" checked={listed} onChange={(e) => setListed(e.target.checked)} disabled={busy} />
          Listed on the home page
        </label>
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create stream'}
        </button>
      </form>
      <p className="muted small">An unlisted stream plays by its link but does not appear on the home page or in GET /api/streams.</p>
    </section>
  );
}

/** A key shown once (new stream, or a new key): server, key and an ffmpeg line to copy. */
function IssuedKeyPanel({ issued, onDone }: { issued: Issued; onDone: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
  }, [issued]);
  const name = issued.title || issued.id;
  return (
    <section className="panel issued" aria-labelledby="issued-heading" data-testid="issued-key" data-stream-id={issued.id}>
      <h2 id="issued-heading" ref={heading} tabIndex={-1}>
        {issued.why === 'created' ? `Stream “${name}” created` : `New key for “${name}”`}
      </h2>
      <p className="muted small">
        Copy the key now: it is shown only this once. Anyone who has it can broadcast on this stream.
        {issued.why === 'rotated' && ' The old key no longer works for new broadcasts.'}
      </p>
      <CopyField label="Server" value={issued.urls.obsServer} />
      <CopyField label="Stream key" value={issued.key} />
      <CopyField label="Or push a file with ffmpeg" value={`ffmpeg -re -i file.mp4 -c copy -f flv ${issued.urls.rtmpPublish}`} />
      <p className="muted small">
        Viewers watch at <a href={`/watch/${issued.id}`}>/watch/{issued.id}</a>.
      </p>
      <button type="button" className="button button-small" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

interface RowProps {
  stream: ManagedStream;
  busy: boolean;
  /** The title being typed, when renaming. */
  editing: string | null;
  confirm: 'delete' | 'rotate' | null;
  onEdit(title: string | null): void;
  onRename(title: string): void;
  onListed(listed: boolean): void;
  onConfirm(action: 'delete' | 'rotate' | null): void;
  onDelete(): void;
  onRotate(): void;
}

function StreamRow({ stream: s, busy, editing, confirm, onEdit, onRename, onListed, onConfirm, onDelete, onRotate }: RowProps) {
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
