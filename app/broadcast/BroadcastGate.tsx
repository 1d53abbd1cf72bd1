'use client';

import { useState } from 'react';
import { OperatorBar, SessionPending, SignInPanel } from '../components/SignIn';
import { useSession } from '../lib/useSession';
import { Broadcaster } from './Broadcaster';
import { SecureContextNotice } from './SecureContextNotice';
import { forgetStream } from './streamStore';

/**
 * /broadcast for whoever comes: the operator (or anyone, on an open server) gets the broadcaster; a signed-out visitor
 * is told how to sign in. Signing out ends a running broadcast (the broadcaster goes away) and forgets the stream key
 * this browser kept: the key is a credential too. A sign-in that ends by itself (expired, revoked in another tab) while
 * the broadcaster is on air does not end the broadcast (its stream key still publishes): the page asks to sign in again
 * above the running broadcaster, which goes away only once it is off air.
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
  // The broadcaster is connecting or on air (and was shown, so the operator had signed in or the server is open).
  const [onAir, setOnAir] = useState(false);
  // The operator pressed Sign out here: that ends the broadcast, on air or not.
  const [signingOut, setSigningOut] = useState(false);
  const signedIn = () => {
    setSigningOut(false);
    refresh();
  };

  if (!session) return <SessionPending error={error} onRetry={refresh} />;

  const open = session.auth === 'open';
  if (!session.signedIn && !open && (!onAir || signingOut)) {
    return (
      <SignInPanel
        title="Sign in to go live"
        why="Only the operator of this server can create streams and broadcast from this page."
        onSignedIn={signedIn}
      />
    );
  }
  if (!session.signedIn && !open) {
    return (
      <>
        <SignInPanel
          title="Your sign-in has ended"
          why="The broadcast goes on: its stream key still works. Sign in again to change its settings, its forward targets or to start another one."
          onSignedIn={signedIn}
        />
        <Broadcaster key="broadcaster" onSignedOut={refresh} onAirChange={setOnAir} />
      </>
    );
  }

  return (
    <>
      <OperatorBar
        signedIn={session.signedIn}
        open={open}
        onSignOut={async () => {
          setSigningOut(true);
          try {
            await signOut();
          } catch (err) {
            setSigningOut(false);
            throw err;
          }
          forgetStream();
        }}
      />
      <Broadcaster key="broadcaster" onSignedOut={refresh} onAirChange={setOnAir} />
    </>
  );
}
