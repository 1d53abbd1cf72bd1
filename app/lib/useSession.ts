'use client';

import { useCallback, useEffect, useState } from 'react';
import { fetchSession, signOut as postSignOut, type Session } from './session';

export interface SessionState {
  /** Null until the server answered. */
  session: Session | null;
  error: string | null;
  /** Ask the server again (after signing in, or when an API call answered 401). */
  refresh(): void;
  signOut(): Promise<void>;
}

/** The operator's sign-in as the server sees it (GET /api/session). */
export function useSession(): SessionState {
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(() => {
    fetchSession()
      .then((s) => {
        setSession(s);
        setError(null);
      })
      .catch((err: unknown) => setError((err as Error).message));
  }, []);

  useEffect(() => {
    refresh();
  }, [refresh]);

  const signOut = useCallback(async () => {
    await postSignOut();
    setSession((s) => ({ auth: s?.auth ?? 'token', signedIn: false }));
  }, []);

  return { session, error, refresh, signOut };
}
