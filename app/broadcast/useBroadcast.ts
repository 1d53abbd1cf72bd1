'use client';

import { useEffect, useState } from 'react';
import type { IngestClient, IngestSnapshot, Status } from './ingest';
import { AUDIO_BITS_PER_SECOND, pickMimeType, recorderOptions, type Preset } from './media';
import { SignedOutError, type StoredStream } from './streamStore';
import { takeGarbageFirst } from './testHooks';
import { useIngest } from './useIngest';

export type Health = 'off' | 'connecting' | 'good' | 'struggling' | 'reconnecting';

const DEFAULT_MAX_MESSAGE = 1024 * 1024;

export interface GoLiveParams {
  /** What to record (null: nothing to broadcast). */
  record: () => MediaStream | null;
  ensureStream: () => Promise<StoredStream>;
  title: string;
  /** From GET /api/ingest; 0 or undefined: the default. */
  maxMessageBytes: number | undefined;
}

export interface Broadcast {
  snap: IngestSnapshot;
  client: IngestClient;
  /** What the page shows: `connecting` while the stream is being prepared, `error` when Go live failed. */
  status: Status;
  /** Connecting, live or reconnecting. */
  active: boolean;
  /** Active, or preparing to be. */
  busy: boolean;
  health: Health;
  /** Why Go live failed, or why the broadcast did. */
  error: string | null;
  /** Updated every second while active. */
  now: number;
  goLive(params: GoLiveParams): Promise<void>;
  stop(): void;
}

function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ingest`;
}

/**
 * Go live and Stop: the ingest client, the stream it needs, and the status and health the page shows.
 * `onKeyRefused`: the server refused the stream's key (4401: deleted, key rotated, never existed).
 * `onSignedOut`: creating a stream needed the operator's sign-in.
 */
export function useBroadcast({
  preset,
  onKeyRefused,
  onSignedOut,
}: {
  /** The quality chosen: its bitrate tells a healthy send buffer from a struggling one. */
  preset: Preset;
  onKeyRefused: () => void;
  onSignedOut: () => void;
}): Broadcast {
  const [preparing, setPreparing] = useState(false);
  const [goLiveError, setGoLiveError] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());

  const [snap, client] = useIngest({
    onRefused: (code) => {
      if (code === 4401) onKeyRefused();
    },
  });

  const active = snap.status === 'connecting' || snap.status === 'live' || snap.status === 'reconnecting';
  const busy = active || preparing;
  const status: Status = preparing ? 'connecting' : goLiveError ? 'error' : snap.status;

  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);

  const goLive = async ({ record, ensureStream, title, maxMessageBytes }: GoLiveParams) => {
    if (busy) return;
    setGoLiveError(null);
    const forced = new URLSearchParams(location.search).get('codec');
    const mimeType = pickMimeType(forced);
    if (!mimeType) {
      setGoLiveError('This browser cannot record video in a format the server reads (WebM or MP4).');
      return;
    }
    const stream = record();
    const video = stream?.getVideoTracks()[0];
    if (!stream || !video || video.readyState !== 'live') {
      setGoLiveError('There is nothing to broadcast: start the camera or share a screen first.');
      return;
    }
    setPreparing(true);
    let target: StoredStream;
    try {
      target = await ensureStream();
    } catch (err) {
      setPreparing(false);
      setGoLiveError((err as Error).message);
      if (err instanceof SignedOutError) onSignedOut();
      return;
    }
    const garbageFirst = takeGarbageFirst();
    setPreparing(false);
    client.start({
      wsUrl: wsUrl(),
      streamId: target.id,
      key: target.key,
      title: title || undefined,
      mimeType,
      stream,
      recorderOptions: recorderOptions(mimeType, preset),
      maxMessageBytes: maxMessageBytes || DEFAULT_MAX_MESSAGE,
      garbageFirst,
    });
  };

  const stop = () => {
    void client.stop();
  };

  const bytesPerSecond = (preset.videoBitsPerSecond + AUDIO_BITS_PER_SECOND) / 8;
  let health: Health = 'off';
  if (status === 'reconnecting') health = 'reconnecting';
  else if (status === 'connecting') health = 'connecting';
  else if (status === 'live') health = snap.bufferedAmount > bytesPerSecond || snap.stats?.struggling === true ? 'struggling' : 'good';

  return {
    snap,
    client,
    status,
    active,
    busy,
    health,
    error: goLiveError ?? (snap.status === 'error' ? snap.error : null),
    now,
    goLive,
    stop,
  };
}
