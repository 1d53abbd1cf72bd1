'use client';

import { OperatorBar, SessionPending, SignInPanel } from '../components/SignIn';
import { useSession } from '../lib/useSession';
import { Broadcaster } from './Broadcaster';
import { SecureContextNotice } from './SecureContextNotice';
import { forgetStream } from './streamStore';

/**
 * /broadcast for whoever comes: the operator (or anyone, on an open server) gets the broadcaster; a signed-out visitor
 * is told how to sign in. Signing out ends a running broadcast (the broadcaster goes away) and forgets the stream key
 * this browser kept: the key is a credential too.
 */
export function BroadcastGate() {
  return (
    <>
      {/* Before anything else: on a plain-HTTP address no camera will open, signed in or not. */}
      <SecureContextNotice />
      <Gate />
    </>
  );
}

function Gate() {
  const { session, error, refresh, signOut } = useSession();

  if (!session) return <SessionPending error={error} onRetry={refresh} />;

  const open = session.auth === 'open';
  if (!session.signedIn && !open) {
    return (
      <SignInPanel
        title="Sign in to go live"
        why="Only the operator of this server can create streams and broadcast from this page."
        onSignedIn={refresh}
      />
    );
  }

  return (
    <>
      <OperatorBar
        signedIn={session.signedIn}
        open={open}
        onSignOut={async () => {
          await signOut();
          forgetStream();
        }}
      />
      <Broadcaster onSignedOut={refresh} />
    </>
  );
}
