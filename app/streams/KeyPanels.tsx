'use client';

import { useEffect, useRef, useState, type FormEvent } from 'react';
import { CopyField } from '../components/CopyField';
import { MAX_TITLE, TitleField } from '../components/TitleField';
import { createManaged, type IssuedKey } from './api';

/** A key to show once: a new stream's, or a rotated one. */
export interface Issued extends IssuedKey {
  title: string;
  why: 'created' | 'rotated';
}

/** New stream: title and whether the directory lists it. */
export function CreateForm({ onCreated, onError }: { onCreated: (c: Issued) => void; onError: (err: unknown) => void }) {
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
        <TitleField id="new-stream-title" value={title} onChange={setTitle} disabled={busy} />
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
export function IssuedKeyPanel({ issued, onDone }: { issued: Issued; onDone: () => void }) {
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
