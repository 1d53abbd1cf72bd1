'use client';

import Link from 'next/link';
import { useId, useRef, useState, type FormEvent } from 'react';
import { signIn } from '../lib/session';

/** Where the operator token is and how the sign-in link works (shown wherever the page asks to sign in). */
export function SignInHelp() {
  return (
    <ul className="help-list">
      <li>
        When the server starts it prints a <strong>sign-in link</strong> in its log (<code>…/signin#token=…</code>): open it
        in this browser and you are signed in.
      </li>
      <li>
        Or paste the <strong>operator token</strong> here: it is in the file <code>admin-token</code> in the server&apos;s
        data folder (<code>DATA_DIR</code>, <code>./data</code> by default), or it is the value of <code>ADMIN_TOKEN</code> when
        the server was started with it.
      </li>
    </ul>
  );
}

/** Paste the operator token; the server sets an HttpOnly session cookie. The token is not kept by the page. */
export function SignInForm({ onSignedIn, initialError = null }: { onSignedIn: () => void; initialError?: string | null }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(initialError);
  const input = useRef<HTMLInputElement>(null);
  const id = useId();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const value = token.trim();
    if (!value || busy) return;
    setBusy(true);
    setError(null);
    const result = await signIn(value);
    setBusy(false);
    if (result.ok) {
      setToken('');
      onSignedIn();
      return;
    }
    setError(result.error);
    input.current?.focus();
  };

  return (
    <form className="signin-form" onSubmit={(e) => void submit(e)} data-testid="signin-form">
      {error && (
        <div className="alert alert-error" role="alert" data-testid="signin-error">
          {error}
        </div>
      )}
      <div className="field">
        <label htmlFor={`${id}-token`}>Operator token</label>
        <input
          ref={input}
          id={`${id}-token`}
          name="token"
          type="password"
          autoComplete="current-password"
          spellCheck={false}
          required
          value={token}
          onChange={(e) => setToken(e.target.value)}
          disabled={busy}
          aria-describedby={`${id}-hint`}
        />
        <span id={`${id}-hint`} className="muted small">
          Kept by the server as a sign-in cookie for this browser; the page does not store it.
        </span>
      </div>
      <button type="submit" className="button button-primary" disabled={busy || !token.trim()}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}

/** What a signed-out visitor sees where operator access is needed. */
export function SignInPanel({ title, why, onSignedIn }: { title: string; why: string; onSignedIn: () => void }) {
  return (
    <section className="panel signin" aria-labelledby="signin-heading" data-testid="signin-panel">
      <h2 id="signin-heading">{title}</h2>
      <p>{why}</p>
      <SignInHelp />
      <SignInForm onSignedIn={onSignedIn} />
      <p className="muted small">
        Just want to watch? <Link href="/">See who is live</Link>.
      </p>
    </section>
  );
}

/** "Signed in as the operator", the stream manager link and Sign out; or, on an open server, that anyone may go live. */
export function OperatorBar({
  signedIn,
  open,
  onSignOut,
  manageLink = true,
}: {
  signedIn: boolean;
  open: boolean;
  onSignOut: () => Promise<void>;
  manageLink?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const out = async () => {
    setBusy(true);
    setError(null);
    try {
      await onSignOut();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="operator-bar" data-testid="operator-bar">
      <span className="muted">
        {signedIn ? 'Signed in as the operator.' : open ? 'Anyone may go live on this server (BROADCAST_AUTH=open).' : null}
      </span>
      {manageLink && (
        <Link href="/streams" className="button button-small">
          Manage streams
        </Link>
      )}
      {signedIn && (
        <button type="button" className="button button-small" onClick={() => void out()} disabled={busy}>
          {busy ? 'Signing out…' : 'Sign out'}
        </button>
      )}
      {error && (
        <span className="notice-bad small" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

/** While the session is not known yet: "checking", or why it could not be checked with a retry. */
export function SessionPending({ error, onRetry }: { error: string | null; onRetry: () => void }) {
  return error ? (
    <div className="alert alert-error" role="alert">
      <p className="alert-line">{error}</p>
      <button type="button" className="button button-small" onClick={onRetry}>
        Try again
      </button>
    </div>
  ) : (
    <p className="muted" data-testid="session-loading">
      Checking sign-in…
    </p>
  );
}
