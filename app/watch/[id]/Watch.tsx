'use client';

import type Hls from 'hls.js';
import { useCallback, useEffect, useRef, useState } from 'react';
import { CopyField } from '../../components/CopyField';
import { formatDuration, measureClockOffset } from '../../lib/clock';
import { attachCatchUp, GIVE_UP_S } from '../catch-up';
import { WATCH_HLS_CONFIG } from '../hls-config';
import { partPrefetch } from '../part-prefetch';

type StreamView = {
  id: string;
  known: boolean;
  title: string;
  state: 'idle' | 'live' | 'reconnecting';
  live: boolean;
  startedAt: string | null;
  viewers: number;
  urls?: { watch: string; hls: string; rtmpPlay: string };
};

type Phase = 'loading' | 'waiting' | 'live' | 'reconnecting' | 'ended';

const POLL_MS = 2000;
/** Behind live by more than this (where the automatic catch-up gives up): offer "jump to live". */
const BEHIND_S = GIVE_UP_S;

const PHASE_TEXT: Record<Phase, string> = {
  loading: 'Loading…',
  waiting: 'Waiting for the broadcaster',
  live: 'Live',
  reconnecting: 'Reconnecting: the broadcaster’s connection dropped',
  ended: 'The stream has ended',
};

export function Watch({ id }: { id: string }) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const stageRef = useRef<HTMLDivElement>(null);
  const hlsRef = useRef<Hls | null>(null);
  const offsetRef = useRef(0);
  const wasLiveRef = useRef(false);
  const [view, setView] = useState<StreamView | null>(null);
  const [phase, setPhase] = useState<Phase>('loading');
  const [playing, setPlaying] = useState(false);
  const [muted, setMuted] = useState(true);
  const [latency, setLatency] = useState<number | null>(null);
  const [behind, setBehind] = useState(false);
  const [now, setNow] = useState(() => Date.now());
  const [error, setError] = useState<string | null>(null);

  const stopPlayer = useCallback(() => {
    hlsRef.current?.destroy();
    hlsRef.current = null;
    const v = videoRef.current;
    if (v && v.src) {
      v.removeAttribute('src');
      v.load();
    }
    setPlaying(false);
  }, []);

  const startPlayer = useCallback(async (src: string) => {
    const video = videoRef.current;
    if (!video || hlsRef.current) return;
    const { default: HlsCtor } = await import('hls.js');
    if (hlsRef.current) return;
    if (HlsCtor.isSupported()) {
      // Fetches each preload-hinted part as the playlist naming it arrives, as Safari does (part-prefetch.ts).
      const prefetch = partPrefetch(HlsCtor.DefaultConfig.loader);
      const hls = new HlsCtor({ ...WATCH_HLS_CONFIG, ...prefetch.config, lowLatencyMode: true, manifestLoadingMaxRetry: 2 });
      hls.once(HlsCtor.Events.DESTROYING, () => prefetch.prefetcher.stop());
      hls.on(HlsCtor.Events.ERROR, (_e, data) => prefetch.prefetcher.onPlayerError(data.details));
      hlsRef.current = hls;
      hls.on(HlsCtor.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        if (data.type === HlsCtor.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
          return;
        }
        // The stream went away (or the network did): go back to asking the API; it restarts us when live.
        hls.destroy();
        if (hlsRef.current === hls) hlsRef.current = null;
        setPlaying(false);
      });
      hls.on(HlsCtor.Events.LEVEL_UPDATED, (_e, data) => {
        if (!data.details.live) setPhase('ended');
      });
      hls.loadSource(src);
      hls.attachMedia(video);
      // Plays a little faster when behind with under 1 s buffered, where hls.js does not; detached with hls.
      const detach = attachCatchUp(hls, video);
      hls.once(HlsCtor.Events.DESTROYING, detach);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src; // Safari on iOS: native HLS (LL-HLS included)
    } else {
      setError('This browser cannot play HLS video.');
      return;
    }
    video.muted = true;
    video.play().catch(() => undefined);
  }, []);

  // Clock offset to the server, for the latency readout.
  useEffect(() => {
    measureClockOffset().then((o) => (offsetRef.current = o), () => undefined);
  }, []);

  // Ask the API about the stream; start or stop the player accordingly. One request every 2 s at most.
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
          setPhase(v.state === 'live' ? 'live' : 'reconnecting');
          if (v.state === 'live') void startPlayer(`/hls/${encodeURIComponent(id)}/index.m3u8`);
        } else {
          setPhase(wasLiveRef.current ? 'ended' : 'waiting');
          if (wasLiveRef.current && hlsRef.current) {
            // Let the player reach ENDLIST, then stop it.
            setTimeout(stopPlayer, 3000);
          }
        }
      } catch {
        /* offline for a moment: try again */
      }
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      stopPlayer();
    };
  }, [id, startPlayer, stopPlayer]);

  // Latency: server time now minus the wall-clock time (PROGRAM-DATE-TIME) of the frame on screen.
  useEffect(() => {
    const t = setInterval(() => {
      setNow(Date.now());
      const v = videoRef.current;
      const hls = hlsRef.current;
      let date: Date | null = null;
      if (hls) date = hls.playingDate;
      else if (v && typeof (v as HTMLVideoElement & { getStartDate?: () => Date }).getStartDate === 'function') {
        const start = (v as HTMLVideoElement & { getStartDate: () => Date }).getStartDate();
        if (!Number.isNaN(start.getTime())) date = new Date(start.getTime() + v.currentTime * 1000);
      }
      if (date && v && !v.paused) {
        setLatency((Date.now() - offsetRef.current - date.getTime()) / 1000);
      } else setLatency(null);
      if (hls && v && hls.liveSyncPosition !== null) setBehind(hls.liveSyncPosition - v.currentTime > BEHIND_S);
      else setBehind(false);
    }, 500);
    return () => clearInterval(t);
  }, []);

  const jumpToLive = () => {
    const v = videoRef.current;
    const hls = hlsRef.current;
    if (v && hls?.liveSyncPosition) v.currentTime = hls.liveSyncPosition;
    v?.play().catch(() => undefined);
  };
  const toggleMute = () => {
    const v = videoRef.current;
    if (!v) return;
    v.muted = !v.muted;
    setMuted(v.muted);
    if (!v.muted) v.play().catch(() => undefined);
  };
  const fullscreen = () => {
    const el = stageRef.current;
    if (!el) return;
    if (document.fullscreenElement) void document.exitFullscreen();
    else void el.requestFullscreen?.().catch(() => undefined);
  };
  const onKey = (e: React.KeyboardEvent) => {
    if (e.target instanceof HTMLInputElement) return;
    if (e.key === 'm') toggleMute();
    else if (e.key === 'f') fullscreen();
  };

  const title = view?.title || `Stream ${id}`;
  const showVideo = playing || phase === 'live' || phase === 'reconnecting';
  const onAir = view?.startedAt ? formatDuration(now - Date.parse(view.startedAt)) : null;

  return (
    <div className="grid-2" onKeyDown={onKey}>
      <div>
        <div className="stage" ref={stageRef} data-testid="player">
          <video
            ref={videoRef}
            data-testid="video"
            muted
            playsInline
            autoPlay
            onPlaying={() => setPlaying(true)}
            style={{ visibility: showVideo ? 'visible' : 'hidden' }}
            aria-label={`${title} video`}
          />
          {(phase !== 'live' || !playing) && (
            <div className="stage-message" data-testid="stage-message">
              <strong>{PHASE_TEXT[phase]}</strong>
              {phase === 'waiting' && <span>This page starts playing by itself when the stream goes live.</span>}
              {phase === 'live' && !playing && <span>Starting…</span>}
            </div>
          )}
          {playing && (
            <div className="player-controls">
              <button type="button" className="button button-small" onClick={toggleMute} aria-pressed={!muted} data-testid="unmute">
                {muted ? 'Unmute' : 'Mute'}
              </button>
              {behind && (
                <button type="button" className="button button-small button-primary" onClick={jumpToLive} data-testid="jump-live">
                  Jump to live
                </button>
              )}
              <button type="button" className="button button-small" onClick={fullscreen} aria-label="Fullscreen">
                Fullscreen
              </button>
            </div>
          )}
        </div>
        <div className="watch-meta">
          <h1>{title}</h1>
          <div className="watch-figures">
            <span className={`badge ${phase === 'live' ? 'badge-live' : ''}`} data-testid="phase">
              {phase === 'live' ? 'Live' : phase === 'reconnecting' ? 'Reconnecting' : phase === 'ended' ? 'Ended' : phase === 'waiting' ? 'Offline' : '…'}
            </span>
            {onAir && (phase === 'live' || phase === 'reconnecting') && <span className="muted">{onAir} on air</span>}
            <span className="muted" data-testid="viewers">
              {view?.viewers ?? 0} watching
            </span>
            <span className="muted" data-testid="latency" title="Time from capture to your screen">
              {latency !== null ? `${latency.toFixed(1)} s behind live` : 'latency —'}
            </span>
          </div>
          {error && (
            <div className="alert alert-error" role="alert">
              {error}
            </div>
          )}
          {view && !view.known && phase === 'waiting' && <p className="muted">No stream by this name yet. Check the link, or wait here.</p>}
        </div>
      </div>
      <aside className="panel">
        <h2>Watch elsewhere</h2>
        {view?.urls ? (
          <>
            <CopyField label="ffplay (RTMP)" value={`ffplay ${view.urls.rtmpPlay}`} />
            <CopyField label="VLC: Media › Open Network Stream" value={view.urls.rtmpPlay} />
            <CopyField label="HLS (Safari, VLC, ffplay)" value={view.urls.hls} />
          </>
        ) : (
          <p className="muted">Addresses appear here once the stream is known.</p>
        )}
        <p className="muted" style={{ fontSize: 13 }}>
          Keys: <kbd>m</kbd> mute, <kbd>f</kbd> fullscreen.
        </p>
      </aside>
    </div>
  );
}
