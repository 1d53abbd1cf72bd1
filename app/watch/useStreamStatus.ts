import { useCallback, useEffect, useRef, useState } from 'react';

/** What `/api/watch/<id>` answers (public: no keys). */
export type StreamView = {
  id: string;
  known: boolean;
  title: string;
  state: 'idle' | 'live' | 'reconnecting';
  live: boolean;
  startedAt: string | null;
  viewers: number;
  urls?: { watch: string; hls: string; rtmpPlay: string };
};

export type Phase = 'loading' | 'waiting' | 'live' | 'reconnecting' | 'ended';

const POLL_MS = 2000;

/**
 * The stream's state as the page shows it, from polling the API (one request every 2 s at most). `ended` means it was
 * live while this page was open (or the player said so: `markEnded`) and is not any more.
 */
export function useStreamStatus(id: string): { view: StreamView | null; phase: Phase; markEnded: () => void } {
  const wasLiveRef = useRef(false);
  const [view, setView] = useState<StreamView | null>(null);
  const [phase, setPhase] = useState<Phase>('loading');

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const res = await fetch(`/api/watch/${encodeURIComponent(id)}`, { cache: 'no-store' });
        const v = (await res.json()) as StreamView;
        if (stopped) return;
        setView(v);
        if (v.state === 'live' || v.state === 'reconnecting') {
          wasLiveRef.current = true;
          setPhase(v.state);
        } else setPhase(wasLiveRef.current ? 'ended' : 'waiting');
      } catch {
        /* offline for a moment: try again */
      }
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [id]);

  const markEnded = useCallback(() => setPhase('ended'), []);
  return { view, phase, markEnded };
}
