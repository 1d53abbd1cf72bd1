'use client';

import { useCallback, useEffect, useRef, useState } from 'react';
import { formatDuration, measureClockOffset } from '../../lib/clock';
import { GIVE_UP_S } from '../catch-up';
import { startLivePlayer } from '../player/live';
import type { Player } from '../player/types';
import { ModeSwitch } from '../ModeSwitch';
import { PlayerControls } from '../PlayerControls';
import { ReplayPanels, ReplayStage } from '../replay/ReplayPanels';
import { useReplay } from '../replay/useReplay';
import { useLiveMode } from '../useLiveMode';
import { useStreamStatus, type Phase } from '../useStreamStatus';
import { WatchElsewhere } from '../WatchElsewhere';

/** Behind live by more than this (where the automatic catch-up gives up): offer "jump to live". */
const BEHIND_S = GIVE_UP_S;
/** After the API says the stream ended, the player gets this long to reach the end of what it has, then stops. */
const END_GRACE_MS = 3000;

const PHASE_TEXT: Record<Phase, string> = {
  loading: 'Loading…',
  waiting: 'Waiting for the broadcaster',
  live: 'Live',
  reconnecting: 'Reconnecting: the broadcaster’s connection dropped',
  ended: 'The stream has ended',
};

export function Watch({ id, recording = null }: { id: string; recording?: string | null }) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const stageRef = useRef<HTMLDivElement>(null);
  const playerRef = useRef<Player | null>(null);
  const startingRef = useRef(false);
  const offsetRef = useRef(0);
  const { view, phase, markEnded } = useStreamStatus(id);
  const mode = useLiveMode();
  const [playing, setPlaying] = useState(false);
  const [muted, setMuted] = useState(true);
  const [latency, setLatency] = useState<number | null>(null);
  const [behind, setBehind] = useState(false);
  const [now, setNow] = useState(() => Date.now());
  const [error, setError] = useState<string | null>(null);

  const stopPlayer = useCallback(() => {
    playerRef.current?.destroy();
    playerRef.current = null;
    setPlaying(false);
  }, []);
  // Replay and rewind (replay/): while a recording plays, no live player is started.
  const replay = useReplay(id, videoRef, phase, recording, { starting: () => startingRef.current, stop: stopPlayer });
  const replaying = replay.source !== null;

  // Clock offset to the server, for the latency readout; the player stops when the page goes.
  useEffect(() => {
    measureClockOffset().then((o) => (offsetRef.current = o), () => undefined);
    return stopPlayer;
  }, [stopPlayer]);

  // Live and nothing playing (first time, or the player gave up): start one. Runs on every answer from the API.
  useEffect(() => {
    const video = videoRef.current;
    if (phase !== 'live' || !video || !mode.ready || playerRef.current || startingRef.current || replaying) return;
    startingRef.current = true;
    const events = {
      onFatal: () => {
        playerRef.current = null;
        setPlaying(false);
      },
      onEnded: markEnded,
      onUnsupported: setError,
    };
    startLivePlayer(video, id, events, { choice: mode.choice, onMode: mode.setPlaying }).then(
      (p) => {
        startingRef.current = false;
        playerRef.current = p;
      },
      () => (startingRef.current = false),
    );
  }, [id, phase, view, markEnded, replaying, mode.ready, mode.choice, mode.setPlaying]);

  // Ended: let the player reach the end of what it has, then stop it.
  useEffect(() => {
    if (phase !== 'ended') return;
    const t = setTimeout(stopPlayer, END_GRACE_MS);
    return () => clearTimeout(t);
  }, [phase, stopPlayer]);

  // Latency: server time now minus the wall-clock time of the frame on screen.
  useEffect(() => {
    const t = setInterval(() => {
      setNow(Date.now());
      const v = videoRef.current;
      const player = playerRef.current;
      const date = player?.playingDate() ?? null;
      setLatency(date && v && !v.paused ? (Date.now() - offsetRef.current - date.getTime()) / 1000 : null);
      const gap = player?.behindLive() ?? null;
      setBehind(gap !== null && gap > BEHIND_S);
    }, 500);
    return () => clearInterval(t);
  }, []);

  const jumpToLive = () => playerRef.current?.jumpToLive();

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
  const showVideo = playing || phase === 'live' || phase === 'reconnecting' || replaying;
  const onLive = (phase === 'live' || phase === 'reconnecting') && !replaying;
  const onAir = view?.startedAt ? formatDuration(now - Date.parse(view.startedAt)) : null;

  return (
    <div className="grid-2" onKeyDown={onKey}>
      <div>
        <ReplayStage replay={replay} phase={phase} />
        <div className="stage" ref={stageRef} data-testid="player">
          <video
            ref={videoRef}
            data-testid="video"
            muted
            playsInline
            autoPlay
            controls={replaying}
            onPlaying={() => setPlaying(true)}
            style={{ visibility: showVideo ? 'visible' : 'hidden' }}
            aria-label={`${title} video`}
          />
          {!replaying && (phase !== 'live' || !playing) && (
            <div className="stage-message" data-testid="stage-message">
              <strong>{PHASE_TEXT[phase]}</strong>
              {phase === 'waiting' && <span>This page starts playing by itself when the stream goes live.</span>}
              {phase === 'live' && !playing && <span>Starting…</span>}
            </div>
          )}
          {playing && !replaying && (
            <PlayerControls muted={muted} behind={behind} onMute={toggleMute} onJumpToLive={jumpToLive} onFullscreen={fullscreen} />
          )}
        </div>
        <div className="watch-meta">
          <h1>{title}</h1>
          <div className="watch-figures">
            <span className={`badge ${phase === 'live' && !replaying ? 'badge-live' : ''}`} data-testid="phase">
              {replaying ? (replay.rewinding ? 'Rewind' : 'Replay') : phase === 'live' ? 'Live' : phase === 'reconnecting' ? 'Reconnecting' : phase === 'ended' ? 'Ended' : phase === 'waiting' ? 'Offline' : '…'}
            </span>
            {onAir && (phase === 'live' || phase === 'reconnecting') && <span className="muted">{onAir} on air</span>}
            {/* Viewers of the live stream: while it is live only (a replay after the end has no live audience). */}
            {(phase === 'live' || phase === 'reconnecting') && (
              <span className="muted" data-testid="viewers">
                {view?.viewers ?? 0} watching{replaying ? ' live' : ''}
              </span>
            )}
            {onLive && (
              <span className="muted" data-testid="latency" title="Time from capture to your screen">
                {latency !== null ? `${latency.toFixed(1)} s behind live` : 'latency —'}
              </span>
            )}
            {onLive && (
              <ModeSwitch
                playing={mode.playing}
                onChoose={(m) => {
                  stopPlayer();
                  mode.choose(m);
                }}
              />
            )}
          </div>
          {error && (
            <div className="alert alert-error" role="alert">
              {error}
            </div>
          )}
          {view && !view.known && phase === 'waiting' && <p className="muted">No stream by this name yet. Check the link, or wait here.</p>}
          <ReplayPanels replay={replay} phase={phase} />
        </div>
      </div>
      <WatchElsewhere urls={view?.urls} />
    </div>
  );
}
