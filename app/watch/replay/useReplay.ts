import { useCallback, useEffect, useRef, useState, type RefObject } from 'react';
import { createReplayPlayer } from '../player/replay-player';
import type { Player } from '../player/types';
import type { Phase } from '../useStreamStatus';
import { autoReplay, inProgress, rewindStart } from './choose';
import { playlistOf, useRecordings, useRequestedRecording, type Recording } from './useRecordings';

/** What the page replays instead of the live stream. `auto`: chosen by the page (the latest, after the end). */
export type ReplaySource = { rec: Recording; auto: boolean; startAt: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The live player as the replay sees it: whether one is being started, and how to stop it. */
export interface LiveControl {
  starting: () => boolean;
  stop: () => void;
}

function setAddress(id: string, rid: string | null): void {
  const url = `/watch/${encodeURIComponent(id)}${rid ? `?recording=${rid}` : ''}`;
  if (window.location.pathname + window.location.search !== url) window.history.replaceState(window.history.state, '', url);
}

/**
 * Replay and rewind on the watch page: which recording plays (the one the link names, the one the viewer picked, the
 * latest after the end), and its player on the page's <video> in place of the live one. While a replay is chosen the
 * page starts no live player; `backToLive` gives the <video> back.
 */
export function useReplay(id: string, videoRef: RefObject<HTMLVideoElement | null>, phase: Phase, requestedRid: string | null, live: LiveControl) {
  const recordings = useRecordings(id, phase);
  const requested = useRequestedRecording(id, requestedRid);
  const [source, setSource] = useState<ReplaySource | null>(null);
  const [error, setError] = useState<string | null>(null);
  const playerRef = useRef<Player | null>(null);
  const appliedRef = useRef<string | null>(null);
  const liveRef = useRef(live);
  liveRef.current = live;

  // The link names a recording: play it (once).
  useEffect(() => {
    const rec = requested.rec;
    if (!rec || appliedRef.current === rec.id) return;
    appliedRef.current = rec.id;
    setSource({ rec, auto: false, startAt: 0 });
  }, [requested.rec]);

  // Not live (ended while watching, or opened after): the latest finished recording.
  const pending = requestedRid !== null && !requested.rec && !requested.error;
  const auto = autoReplay(phase, recordings.list, pending);
  useEffect(() => {
    if (!source && auto) setSource({ rec: auto, auto: true, startAt: 0 });
  }, [source, auto]);

  // Live again: a replay the page chose by itself gives way.
  useEffect(() => {
    if (phase === 'live' && source?.auto) setSource(null);
  }, [phase, source]);

  // The player of the chosen source.
  useEffect(() => {
    const video = videoRef.current;
    if (!source || !video) return;
    let cancelled = false;
    setError(null);
    void (async () => {
      while (liveRef.current.starting()) {
        await sleep(100);
        if (cancelled) return;
      }
      liveRef.current.stop();
      const events = {
        onFatal: () => setError('The recording could not be played (the server did not give it, or the network failed).'),
        onEnded: () => undefined,
        onUnsupported: setError,
      };
      const p = await createReplayPlayer(video, playlistOf(source.rec), events, { startAt: source.startAt, cancelled: () => cancelled });
      if (cancelled) p?.destroy();
      else playerRef.current = p;
    })().catch((err: Error) => !cancelled && setError(`The recording could not be played: ${err.message}`));
    return () => {
      cancelled = true;
      playerRef.current?.destroy();
      playerRef.current = null;
    };
  }, [source, videoRef]);

  const play = useCallback(
    (rec: Recording) => {
      setSource({ rec, auto: false, startAt: 0 });
      setAddress(id, rec.id);
    },
    [id],
  );
  const current = inProgress(recordings.list);
  const rewind = useCallback(() => {
    if (current) setSource({ rec: current, auto: false, startAt: rewindStart(current) });
  }, [current]);
  const backToLive = useCallback(() => {
    setSource(null);
    setAddress(id, null);
  }, [id]);
  const playingDate = useCallback(() => playerRef.current?.playingDate() ?? null, []);
  /** Live, and playing the recording of this very broadcast. */
  const rewinding = !!source && (phase === 'live' || phase === 'reconnecting') && source.rec.state === 'recording';

  return { source, rewinding, error, requestError: requested.error, recordings, current, play, rewind, backToLive, playingDate };
}
