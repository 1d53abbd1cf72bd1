'use client';

import Link from 'next/link';
import { Fragment, useCallback, useEffect, useRef, useState } from 'react';
import { OperatorBar, SessionPending, SignInPanel } from '../components/SignIn';
import { SignedOutError } from '../lib/session';
import { useSession } from '../lib/useSession';
import { deleteStream, listAll, rotateKey, updateStream, type ManagedStream } from './api';
import { MAX_TITLE } from '../components/TitleField';
import { CreateForm, IssuedKeyPanel, type Issued } from './KeyPanels';
import { RecordingsPanel } from './RecordingsPanel';
import { StreamRow } from './StreamRow';

const REFRESH_MS = 5000;

/** /streams: the operator's stream manager, or how to sign in. */
export function StreamsGate() {
  const { session, error, refresh, signOut } = useSession();
  if (!session) return <SessionPending error={error} onRetry={refresh} />;
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

function byInterest(a: ManagedStream, b: ManagedStream): number {
  const liveA = a.state !== 'idle' ? 1 : 0;
  const liveB = b.state !== 'idle' ? 1 : 0;
  if (liveA !== liveB) return liveB - liveA;
  return (b.createdAt ?? '').localeCompare(a.createdAt ?? '');
}

type Confirm = { id: string; action: 'delete' | 'rotate' } | null;

/** Every stream: create, rename, list or unlist, record or not (and its recordings), rotate its key, delete. Refreshes itself every few seconds. */
export function StreamManager({ onSignedOut }: { onSignedOut: () => void }) {
  const [streams, setStreams] = useState<ManagedStream[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState<ReadonlySet<string>>(new Set());
  const [editing, setEditing] = useState<{ id: string; title: string } | null>(null);
  const [confirm, setConfirm] = useState<Confirm>(null);
  const [issued, setIssued] = useState<Issued | null>(null);
  const [recordingsOf, setRecordingsOf] = useState<string | null>(null);
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

  // Counts from its next broadcast (the server reads it at each publish).
  const setRecord = (s: ManagedStream, record: boolean) =>
    change(s.id, async () => {
      replace({ ...s, record, recorded: record });
      try {
        replace(await updateStream(s.id, { record }));
      } catch (err) {
        replace({ ...s, record: s.record, recorded: s.recorded });
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
                  <th scope="col">Recording</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {[...streams].sort(byInterest).map((s) => (
                  <Fragment key={s.id}>
                    <StreamRow
                      stream={s}
                      busy={busy.has(s.id)}
                      editing={editing?.id === s.id ? editing.title : null}
                      confirm={confirm?.id === s.id ? confirm.action : null}
                      onEdit={(title) => setEditing(title === null ? null : { id: s.id, title })}
                      onRename={(title) => void rename(s, title)}
                      onListed={(listed) => void setListed(s, listed)}
                      onRecord={(record) => void setRecord(s, record)}
                      showRecordings={recordingsOf === s.id}
                      onRecordings={(show) => setRecordingsOf(show ? s.id : null)}
                      onConfirm={(action) => setConfirm(action ? { id: s.id, action } : null)}
                      onDelete={() => void remove(s)}
                      onRotate={() => void newKey(s)}
                    />
                    {recordingsOf === s.id && (
                      <tr data-testid="recordings-row">
                        <td colSpan={6}>
                          <RecordingsPanel streamId={s.id} name={s.title || 'Untitled stream'} onSignedOut={onSignedOut} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
