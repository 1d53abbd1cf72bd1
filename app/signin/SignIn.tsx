'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect, useRef, useState } from 'react';
import { SignInForm, SignInHelp } from '../components/SignIn';
import { fetchSession, safeNext, signIn, tokenFromHash } from '../lib/session';

type Phase = { kind: 'starting' } | { kind: 'signing-in' } | { kind: 'form'; error: string | null; signedIn: boolean };

/**
 * /signin: with `#token=…` (the link the server logs) the token is taken out of the address at once (it is never
 * sent to the server in a URL, nor kept in history), posted to /api/session, and the page goes on to `?next=` (a
 * path on this site) or /broadcast. Without it, a form to paste the token.
 */
export function SignIn() {
  const router = useRouter();
  const [phase, setPhase] = useState<Phase>({ kind: 'starting' });
  const started = useRef(false);
  const next = useRef('/broadcast');

  useEffect(() => {
    if (started.current) return; // StrictMode runs effects twice; the fragment is gone the second time
    started.current = true;
    next.current = safeNext(new URLSearchParams(location.search).get('next'), location.origin);
    const token = tokenFromHash(location.hash);
    if (location.hash) history.replaceState(history.state, '', `${location.pathname}${location.search}`);
    if (!token) {
      fetchSession()
        .then((s) => setPhase({ kind: 'form', error: null, signedIn: s.signedIn }))
        .catch(() => setPhase({ kind: 'form', error: null, signedIn: false }));
      return;
    }
    setPhase({ kind: 'signing-in' });
    void signIn(token).then((result) => {
      if (result.ok) router.replace(next.current);
      else setPhase({ kind: 'form', error: `The sign-in link did not work. ${result.error}`, signedIn: false });
    });
  }, [router]);

  if (phase.kind === 'starting') return <p className="muted">Loading…</p>;
  if (phase.kind === 'signing-in') {
    return (
      <p className="muted" role="status" data-testid="signing-in">
        Signing in…
      </p>
    );
  }
  return (
    <section className="panel signin" aria-labelledby="signin-heading" data-testid="signin-panel">
      <h2 id="signin-heading">How to sign in</h2>
      {phase.signedIn && (
        <p className="alert alert-info" role="status">
          This browser is already signed in: <Link href="/broadcast">go live</Link> or{' '}
          <Link href="/streams">manage streams</Link>.
        </p>
      )}
      <SignInHelp />
      <SignInForm initialError={phase.error} onSignedIn={() => router.replace(next.current)} />
    </section>
  );
}
