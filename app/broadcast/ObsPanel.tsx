'use client';

import { useCallback, useState, type SyntheticEvent } from 'react';
import { CopyField } from '../components/CopyField';
import { fetchObsServers, SignedOutError } from './streamStore';
import type { StreamIdentity } from './useStreamIdentity';

export interface ObsSettings {
  open: boolean;
  busy: boolean;
  error: string | null;
  /** `rtmps://HOST:PORT/live` when the server has RTMPS_PORT, else null. */
  tlsServer: string | null;
  onToggle(e: SyntheticEvent<HTMLDetailsElement>): void;
  /** Load again when open (after "new stream"). */
  reload(): void;
}

/**
 * The OBS/ffmpeg settings of the page's stream: opening the panel creates the stream when there is none, and finds
 * the RTMP server of a stored stream that lacks it.
 */
export function useObsSettings(identity: StreamIdentity, onSignedOut: () => void): ObsSettings {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [tlsServer, setTlsServer] = useState<string | null>(null);
  const { ensureStream, forget, update } = identity;

  const load = useCallback(async () => {
    setError(null);
    setBusy(true);
    try {
      let s = await ensureStream();
      // Looked up at every opening: the RTMPS address is not kept (the server may have it on or off).
      let servers = await fetchObsServers(s.id);
      if (servers === null) {
        forget(); // the server does not know it (any more)
        s = await ensureStream();
        servers = await fetchObsServers(s.id);
      } else if (!s.obsServer) {
        update({ ...s, obsServer: servers.rtmp });
      }
      setTlsServer(servers?.rtmps ?? null);
    } catch (err) {
      setError((err as Error).message);
      if (err instanceof SignedOutError) onSignedOut();
    } finally {
      setBusy(false);
    }
  }, [ensureStream, forget, update, onSignedOut]);

  const onToggle = (e: SyntheticEvent<HTMLDetailsElement>) => {
    const isOpen = e.currentTarget.open;
    setOpen(isOpen);
    if (isOpen) void load();
  };

  const reload = () => {
    if (open) void load();
  };

  return { open, busy, error, tlsServer, onToggle, reload };
}

/** "Use OBS or ffmpeg instead": server, stream key and an ffmpeg command line for the page's stream. */
export function ObsPanel({ obs, identity }: { obs: ObsSettings; identity: StreamIdentity }) {
  const { stored } = identity;
  const obsServer = stored?.obsServer ?? '';
  return (
    <details className="panel obs" onToggle={obs.onToggle}>
      <summary>Use OBS or ffmpeg instead</summary>
      <div className="obs-body">
        <p className="muted small">
          In OBS: Settings → Stream → Service <em>Custom…</em>, then paste the server and the stream key. Keep the key secret:
          anyone who has it can broadcast on this stream.
        </p>
        {obs.error && (
          <div className="alert alert-error" role="alert">
            {obs.error}
          </div>
        )}
        {obs.busy && !stored && <p className="muted">Creating a stream…</p>}
        {stored && obsServer && (
          <>
            <CopyField label="Server" value={obsServer} />
            {obs.tlsServer && <CopyField label="Or the encrypted server (RTMPS)" value={obs.tlsServer} />}
            <CopyField label="Stream key" value={stored.key} />
            <CopyField label="Or push a file with ffmpeg" value={`ffmpeg -re -i file.mp4 -c copy -f flv ${obsServer}/${stored.key}`} />
            <p className="muted small">
              Viewers watch at <a href={`/watch/${stored.id}`}>/watch/{stored.id}</a>.
            </p>
          </>
        )}
      </div>
    </details>
  );
}
