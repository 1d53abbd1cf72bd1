import { useCallback, useEffect, useRef, useState } from 'react';
import type { Recording } from '../../lib/recording';
import type { Phase } from '../useStreamStatus';

export type { Recording };

/** Recording ids as the server makes them; anything else in `?recording=` is not looked up. */
export const RECORDING_ID = /^[0-9a-f]{16}$/;
const PAGE = 20;

/** The recording's playlist on this origin (the API's absolute URLs follow PUBLIC_URL, which may be another name). */
export const playlistOf = (r: Recording) => `/api/recordings/${r.id}/index.m3u8`;

/**
 * The stream's recordings, newest first (first page, then older pages on `loadMore`). Fetched again when the phase
 * changes, every 10 s while live (so the one being written shows up for rewinding) and every 2 s while the newest is
 * still being finished after the end.
 */
export function useRecordings(id: string, phase: Phase): { list: Recording[] | null; hasMore: boolean; loadMore: () => void } {
  const [first, setFirst] = useState<Recording[] | null>(null);
  const [older, setOlder] = useState<Recording[]>([]);
  const [next, setNext] = useState<string | null>(null);
  /** Older pages loaded: the first page's cursor no longer says where the next page starts. */
  const olderLoaded = useRef(false);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      let newest: Recording | undefined;
      try {
        const res = await fetch(`/api/streams/${encodeURIComponent(id)}/recordings?limit=${PAGE}`, { cache: 'no-store' });
        if (res.ok) {
          const body = (await res.json()) as { recordings: Recording[]; next: string | null };
          if (stopped) return;
          setFirst(body.recordings);
          if (!olderLoaded.current) setNext(body.next);
          newest = body.recordings[0];
        } else if (!stopped) setFirst((f) => f ?? []);
      } catch {
        /* offline for a moment: the next poll tries again */
      }
      if (stopped) return;
      const wait = phase === 'live' || phase === 'reconnecting' ? 10000 : newest?.state === 'recording' ? 2000 : 0;
      if (wait) timer = setTimeout(load, wait);
    };
    void load();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [id, phase]);

  const loadMore = useCallback(() => {
    if (!next) return;
    fetch(`/api/streams/${encodeURIComponent(id)}/recordings?limit=${PAGE}&cursor=${encodeURIComponent(next)}`, { cache: 'no-store' })
      .then((r) => (r.ok ? (r.json() as Promise<{ recordings: Recording[]; next: string | null }>) : Promise.reject(new Error(String(r.status)))))
      .then((body) => {
        olderLoaded.current = true;
        setOlder((o) => [...o, ...body.recordings]);
        setNext(body.next);
      })
      .catch(() => undefined);
  }, [id, next]);

  const list = first === null ? null : [...first, ...older.filter((o) => !first.some((f) => f.id === o.id))];
  return { list, hasMore: next !== null, loadMore };
}

/** One recording named by `?recording=`: the recording, or why it cannot be shown (null while asking). */
export function useRequestedRecording(id: string, rid: string | null): { rec: Recording | null; error: string | null } {
  const [state, setState] = useState<{ rid: string | null; rec: Recording | null; error: string | null }>({ rid: null, rec: null, error: null });
  const valid = rid !== null && RECORDING_ID.test(rid);
  useEffect(() => {
    if (!valid || !rid) return;
    let stopped = false;
    fetch(`/api/recordings/${rid}`, { cache: 'no-store' })
      .then(async (res) => {
        if (stopped) return;
        if (res.status === 404) return setState({ rid, rec: null, error: 'This recording does not exist (any more): it may have been deleted, or the link is wrong.' });
        if (!res.ok) return setState({ rid, rec: null, error: `The recording could not be loaded (the server answered ${res.status}).` });
        const rec = (await res.json()) as Recording;
        if (stopped) return;
        if (rec.streamId !== id) setState({ rid, rec: null, error: 'This recording belongs to another stream.' });
        else setState({ rid, rec, error: null });
      })
      .catch(() => !stopped && setState({ rid, rec: null, error: 'The recording could not be loaded: the server did not answer.' }));
    return () => {
      stopped = true;
    };
  }, [id, rid, valid]);
  if (rid === null) return { rec: null, error: null };
  if (!valid) return { rec: null, error: 'This link does not name a recording (its recording id is not valid).' };
  return state.rid === rid ? { rec: state.rec, error: state.error } : { rec: null, error: null };
}
