'use client';

import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { IngestClient, type IngestEvents, type IngestSnapshot } from './ingest';

/** One ingest client for the component's life; its snapshot re-renders the component. */
export function useIngest(events: IngestEvents): [IngestSnapshot, IngestClient] {
  const eventsRef = useRef(events);
  useEffect(() => {
    eventsRef.current = events;
  });
  const [client] = useState(() => new IngestClient({ onRefused: (code) => eventsRef.current.onRefused?.(code) }));
  const snapshot = useSyncExternalStore(client.subscribe, client.getSnapshot, client.getServerSnapshot);
  // Leaving the page (client-side navigation) ends the broadcast. Idle, this does nothing (StrictMode's re-mount).
  useEffect(() => () => client.dispose(), [client]);
  return [snapshot, client];
}
