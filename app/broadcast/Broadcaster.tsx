'use client';

import Link from 'next/link';
import { useEffect, useRef, useState } from 'react';
import { DevicePanel } from './DevicePanel';
import { ForwardsPanel } from './ForwardsPanel';
import { FiguresPanel, SharePanel } from './LivePanels';
import { ObsPanel, useObsSettings } from './ObsPanel';
import { Preview } from './Preview';
import { StreamPanel } from './StreamPanel';
import { fetchIngestInfo, type IngestInfo } from './streamStore';
import { useTestHooks } from './testHooks';
import { useBroadcast } from './useBroadcast';
import { useForwards } from './useForwards';
import { useMediaSource } from './useMediaSource';
import { useStreamIdentity } from './useStreamIdentity';

export type { GoliveHooks, GoliveState } from './testHooks';

/** GET /api/ingest once: null until known (or when it failed: then Go live tries and reports what happens). */
function useIngestInfo(): IngestInfo | null {
  const [info, setInfo] = useState<IngestInfo | null>(null);
  useEffect(() => {
    let cancelled = false;
    fetchIngestInfo()
      .then((i) => !cancelled && setInfo(i))
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, []);
  return info;
}

const noop = () => undefined;

/**
 * The whole /broadcast page below its heading: devices, preview, go live, figures, forward targets, OBS settings.
 * `onSignedOut`: the server wanted the operator to sign in (creating a stream answered 401).
 * `onAirChange`: whether a broadcast is connecting, on air or reconnecting (so a lost sign-in does not end it).
 */
export function Broadcaster({ onSignedOut = noop, onAirChange = noop }: { onSignedOut?: () => void; onAirChange?: (onAir: boolean) => void }) {
  const ingestInfo = useIngestInfo();
  const identity = useStreamIdentity();
  // The source ended by itself: stop the broadcast, if any (the client exists only below).
  const stopIfActive = useRef<() => boolean>(() => false);
  const media = useMediaSource(() => stopIfActive.current());
  const broadcast = useBroadcast({
    preset: media.preset,
    // The stored id/key is useless: the next Go live creates a new stream.
    onKeyRefused: identity.forget,
    onSignedOut,
  });
  useEffect(() => {
    const { client } = broadcast;
    stopIfActive.current = () => {
      if (!client.active) return false;
      void client.stop();
      return true;
    };
  }, [broadcast.client]);
  const obs = useObsSettings(identity, onSignedOut);
  const forwards = useForwards(identity, onSignedOut);
  const { snap, status, busy } = broadcast;
  const { support, mediaError } = media;
  useEffect(() => {
    onAirChange(busy);
    return () => onAirChange(false);
  }, [busy, onAirChange]);

  const newStream = () => {
    identity.forget();
    obs.reload();
  };

  const goLive = () => {
    if (busy) return;
    media.setMediaNotice(null);
    void broadcast.goLive({
      record: media.recordStream,
      ensureStream: identity.ensureStream,
      title: identity.cleanTitle,
      maxMessageBytes: ingestInfo?.maxMessageBytes,
    });
  };

  // --- messages ---

  const streamError = broadcast.error;
  const errors: string[] = [];
  if (support && !support.recorder) {
    errors.push('This browser cannot record video (it has no MediaRecorder). Use a recent Chrome, Edge, Firefox or Safari, or broadcast with OBS (below).');
  }
  // Not a secure page: SecureContextNotice (BroadcastGate) explains it.
  if (support && !support.devices && support.secure) errors.push('This browser gives the page no access to cameras and microphones.');
  if (ingestInfo && !ingestInfo.available) {
    errors.push(`Browser broadcasting is unavailable on this server: ${ingestInfo.reason ?? 'no reason given'}`);
  }
  if (mediaError) errors.push(mediaError);
  if (streamError && !errors.includes(streamError)) errors.push(streamError);

  const canGoLive =
    !!support?.recorder && !!support.devices && ingestInfo?.available !== false && !!media.preview && !media.opening && !busy && !snap.stopping;

  const streamId = snap.streamId ?? identity.stored?.id ?? null;
  useTestHooks(broadcast.client, {
    status,
    streamId,
    reconnects: snap.reconnects,
    error: streamError ?? errors[0] ?? null,
  });

  const onAir = snap.liveSince !== null && (status === 'live' || status === 'reconnecting');
  const watchUrl = snap.urls?.watch ?? (streamId && typeof location !== 'undefined' ? `${location.origin}/watch/${streamId}` : '');

  return (
    <>
      {errors.length > 0 && (
        <div className="alert alert-error" role="alert" data-testid="error">
          {errors.map((e) => (
            <p key={e} className="alert-line">
              {e}
            </p>
          ))}
          {snap.status === 'error' && snap.errorCode === 4401 && (
            <div data-testid="key-refused">
              <p className="alert-line">
                The key this page kept for stream <code>{snap.streamId}</code> no longer works: the stream was deleted, or it
                was given a new key in the <Link href="/streams">stream manager</Link>. This page has forgotten it.
              </p>
              <button type="button" className="button button-small" onClick={goLive} disabled={!canGoLive}>
                Go live on a new stream
              </button>
            </div>
          )}
          {mediaError && !busy && (
            <button type="button" className="button button-small" onClick={media.retry}>
              Try again
            </button>
          )}
        </div>
      )}
      {media.mediaNotice && (
        <div className="alert alert-info" role="status">
          {media.mediaNotice}
        </div>
      )}

      <div className="grid-2 broadcast">
        <div className="broadcast-main">
          <Preview
            preview={media.preview}
            source={media.source}
            opening={media.opening}
            mediaError={mediaError}
            onAir={onAir ? { live: status === 'live', since: snap.liveSince ?? broadcast.now, now: broadcast.now } : null}
          />
          <DevicePanel media={media} busy={busy} />
        </div>

        <div className="broadcast-side">
          <StreamPanel broadcast={broadcast} identity={identity} canGoLive={canGoLive} onGoLive={goLive} onNewStream={newStream} />
          {(status === 'live' || status === 'reconnecting') && streamId && <SharePanel watchUrl={watchUrl} snap={snap} />}
          {(status === 'live' || status === 'reconnecting') && <FiguresPanel snap={snap} now={broadcast.now} />}
          <ForwardsPanel forwards={forwards} />
          <ObsPanel obs={obs} identity={identity} />
        </div>
      </div>
    </>
  );
}
