'use client';

import { useCallback, useEffect, useState } from 'react';
import { modeFromQuery, type LiveMode, type ModeChoice } from './player/live';

/**
 * The watch page's live mode: the viewer's choice (`?mode=realtime|hls` in the address, or the switch; auto
 * otherwise) and the mode actually playing (auto may fall back from realtime to LL-HLS). `ready` once the address was
 * read (after hydration, so server and browser render the same first).
 */
export function useLiveMode() {
  const [choice, setChoice] = useState<ModeChoice>('auto');
  const [ready, setReady] = useState(false);
  const [playing, setPlaying] = useState<LiveMode | null>(null);

  useEffect(() => {
    setChoice(modeFromQuery(window.location.search));
    setReady(true);
  }, []);

  /** The viewer picks a mode: kept in the address (a reload or a shared link keeps it). */
  const choose = useCallback((m: LiveMode) => {
    const url = new URL(window.location.href);
    url.searchParams.set('mode', m);
    window.history.replaceState(window.history.state, '', url);
    setPlaying(null);
    setChoice(m);
  }, []);

  return { choice, ready, playing, setPlaying, choose };
}
