'use client';

import type { Broadcast, Health } from './useBroadcast';
import { TitleField } from '../components/TitleField';
import type { StreamIdentity } from './useStreamIdentity';

const HEALTH_TEXT: Record<Health, string> = {
  off: 'Off air',
  connecting: 'Connecting',
  good: 'Good',
  struggling: 'Struggling',
  reconnecting: 'Reconnecting',
};

interface StreamPanelProps {
  broadcast: Broadcast;
  identity: StreamIdentity;
  canGoLive: boolean;
  onGoLive(): void;
  onNewStream(): void;
}

/** Title, the stream in use, Go live / Stop, status and health. */
export function StreamPanel({ broadcast, identity, canGoLive, onGoLive, onNewStream }: StreamPanelProps) {
  const { status, health, snap, busy, active } = broadcast;
  const { stored } = identity;
  return (
    <section className="panel" aria-labelledby="stream-heading">
      <div className="panel-head">
        <h2 id="stream-heading">Stream</h2>
        <div className="status-row" aria-live="polite">
          <span className={`badge status-badge status-${status}`} data-testid="status">
            {status}
          </span>
          <span className={`health health-${health}`} data-testid="health" data-health={health}>
            <span className="health-dot" aria-hidden="true" />
            {HEALTH_TEXT[health]}
          </span>
        </div>
      </div>
      <TitleField id="title" value={identity.title} onChange={identity.setTitle} disabled={busy} />
      {stored && (
        <p className="muted small stream-id">
          Stream <code>{stored.id}</code> ·{' '}
          <button type="button" className="link-button" onClick={onNewStream} disabled={busy}>
            new stream
          </button>
        </p>
      )}
      <div className="button-row">
        <button type="button" className="button button-primary" data-testid="go-live" onClick={onGoLive} disabled={!canGoLive}>
          {status === 'connecting' ? 'Connecting…' : 'Go live'}
        </button>
        <button type="button" className="button button-stop" data-testid="stop" onClick={broadcast.stop} disabled={!active || snap.stopping}>
          Stop
        </button>
      </div>
      {snap.notice && (
        <p className={`notice ${status === 'reconnecting' ? 'notice-bad' : ''}`} role="status">
          {snap.notice}
        </p>
      )}
      {status === 'ended' && <p className="notice">The broadcast ended. Go live again to continue on the same stream.</p>}
    </section>
  );
}
