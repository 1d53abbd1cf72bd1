'use client';

import { useEffect, useRef } from 'react';
import type { IngestClient, Status } from './ingest';

export interface GoliveState {
  status: Status;
  streamId: string | null;
  reconnects: number;
  error: string | null;
}

/** Test hooks, always present (harmless): see e2e/broadcast.spec.ts. */
export interface GoliveHooks {
  dropConnection(): void;
  sendGarbageFirst: boolean;
  state(): GoliveState;
}

declare global {
  interface Window {
    __golive?: GoliveHooks;
  }
}

/** `window.__golive`: the page's state as of its last render, and ways for tests to misbehave. */
export function useTestHooks(client: IngestClient, state: GoliveState): void {
  const hookState = useRef<GoliveState>({ status: 'idle', streamId: null, reconnects: 0, error: null });
  useEffect(() => {
    hookState.current = state;
  });
  useEffect(() => {
    const previous = window.__golive;
    window.__golive = {
      sendGarbageFirst: previous?.sendGarbageFirst ?? false,
      dropConnection: () => client.dropConnection(),
      state: () => ({ ...hookState.current }),
    };
  }, [client]);
}

/** Takes the one-shot "send garbage first" request of a test. */
export function takeGarbageFirst(): boolean {
  const hooks = window.__golive;
  const garbageFirst = hooks?.sendGarbageFirst === true;
  if (hooks) hooks.sendGarbageFirst = false;
  return garbageFirst;
}
