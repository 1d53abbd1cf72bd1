'use client';

import Link from 'next/link';
import { useId, useState, type FormEvent } from 'react';
import { PRESETS, describeState, draftTarget, presetById, type ForwardTarget, type PresetId } from './forwards';
import type { Forwards } from './useForwards';

/**
 * "Also stream to": the page's stream forwarded by the server to YouTube, Twitch, Facebook or any RTMP/RTMPS server.
 * The key is typed into a password field and never shown again: the list shows the server's masked URL.
 */
export function ForwardsPanel({ forwards }: { forwards: Forwards }) {
  const { targets } = forwards;
  return (
    <section className="panel forwards" aria-labelledby="forwards-heading" data-testid="forwards">
      <h2 id="forwards-heading">Also stream to</h2>
      <p className="muted small">
        The server sends your stream on to these while you are live, and retries a target that drops. Nothing more is
        uploaded from this browser.
      </p>
      {forwards.error && (
        <div className="alert alert-error" role="alert" data-testid="forward-error">
          {forwards.error}
          {forwards.signedOut && (
            <p className="alert-line">
              <Link href="/signin?next=/broadcast">Sign in</Link>
            </p>
          )}
        </div>
      )}
      {targets && targets.length > 0 && (
        <ul className="forward-list">
          {targets.map((t) => (
            <TargetRow key={t.id} target={t} forwards={forwards} />
          ))}
        </ul>
      )}
      <AddTargetForm forwards={forwards} />
    </section>
  );
}

function TargetRow({ target, forwards }: { target: ForwardTarget; forwards: Forwards }) {
  const state = describeState(target);
  return (
    <li className="forward-item" data-testid="forward-target" data-forward-id={target.id} data-state={target.state}>
      <div className="forward-head">
        <strong className="forward-label">{target.label || 'Target'}</strong>
        <span className={`forward-state forward-${state.tone}`} data-testid="forward-state" aria-live="polite">
          {state.text}
        </span>
      </div>
      <code className="forward-url" data-testid="forward-url">
        {target.url}
      </code>
      <div className="forward-actions">
        <label className="check">
          <input
            type="checkbox"
            checked={target.enabled}
            disabled={forwards.busy}
            onChange={(e) => void forwards.setEnabled(target.id, e.currentTarget.checked)}
            data-testid="forward-enabled"
          />
          On
        </label>
        <button
          type="button"
          className="button button-small"
          disabled={forwards.busy}
          onClick={() => void forwards.remove(target.id)}
          aria-label={`Remove ${target.label || 'target'}`}
          data-testid="forward-remove"
        >
          Remove
        </button>
      </div>
    </li>
  );
}

function AddTargetForm({ forwards }: { forwards: Forwards }) {
  const id = useId();
  const [presetId, setPresetId] = useState<PresetId>('youtube');
  const [server, setServer] = useState('');
  const [key, setKey] = useState('');
  const [label, setLabel] = useState('');
  const [formError, setFormError] = useState<string | null>(null);
  const preset = presetById(presetId);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (forwards.busy) return;
    const draft = draftTarget(presetId, { server, key, label });
    if (!draft.ok) {
      setFormError(draft.error);
      return;
    }
    setFormError(null);
    if (await forwards.add({ url: draft.url, label: draft.label })) {
      // Saved: the key is not kept by the page (the list shows it masked).
      setKey('');
      setLabel('');
    }
  };

  return (
    <form className="forward-form" onSubmit={(e) => void submit(e)} data-testid="forward-form">
      <div className="field">
        <label htmlFor={`${id}-preset`}>Platform</label>
        <select id={`${id}-preset`} value={presetId} onChange={(e) => setPresetId(e.currentTarget.value as PresetId)} data-testid="forward-preset">
          {PRESETS.map((p) => (
            <option key={p.id} value={p.id}>
              {p.id === 'custom' ? 'Custom RTMP/RTMPS server' : p.name}
            </option>
          ))}
        </select>
      </div>
      {preset.id === 'custom' ? (
        <div className="field">
          <label htmlFor={`${id}-server`}>Server URL</label>
          <input
            id={`${id}-server`}
            type="text"
            inputMode="url"
            placeholder="rtmp://host[:port]/app or rtmps://…"
            value={server}
            onChange={(e) => setServer(e.currentTarget.value)}
            autoComplete="off"
            spellCheck={false}
            data-testid="forward-server"
          />
        </div>
      ) : (
        <p className="muted small forward-server">
          Server <code>{preset.server}</code>
        </p>
      )}
      <div className="field">
        <label htmlFor={`${id}-key`}>Stream key</label>
        <input
          id={`${id}-key`}
          type="password"
          value={key}
          onChange={(e) => setKey(e.currentTarget.value)}
          autoComplete="off"
          spellCheck={false}
          aria-describedby={`${id}-key-help`}
          data-testid="forward-key"
        />
        <span id={`${id}-key-help`} className="muted small">
          {preset.keyHelp}. Kept by the server; shown masked after saving.
        </span>
      </div>
      <div className="field">
        <label htmlFor={`${id}-label`}>Label (optional)</label>
        <input
          id={`${id}-label`}
          type="text"
          maxLength={80}
          placeholder={preset.id === 'custom' ? 'the server’s host' : preset.name}
          value={label}
          onChange={(e) => setLabel(e.currentTarget.value)}
          data-testid="forward-label"
        />
      </div>
      {formError && (
        <p className="notice notice-bad" role="alert" data-testid="forward-form-error">
          {formError}
        </p>
      )}
      <button type="submit" className="button" disabled={forwards.busy} data-testid="forward-add">
        {forwards.busy ? 'Saving…' : `Add ${preset.id === 'custom' ? 'target' : preset.name}`}
      </button>
    </form>
  );
}
