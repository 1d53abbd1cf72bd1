'use client';

import { CopyField, useCopy } from '../components/CopyField';
import { codecOf, formatBitrate, formatDuration, num } from './format';
import type { IngestSnapshot } from './ingest';

/** Where viewers watch: the watch page, RTMP and HLS addresses. */
export function SharePanel({ watchUrl, snap }: { watchUrl: string; snap: IngestSnapshot }) {
  return (
    <section className="panel" aria-labelledby="share-heading">
      <h2 id="share-heading">Share</h2>
      <WatchLink url={watchUrl} />
      {snap.urls && <CopyField label="Play over RTMP" value={`ffplay ${snap.urls.rtmpPlay}`} />}
      {snap.urls && <CopyField label="HLS" value={snap.urls.hls} />}
    </section>
  );
}

/** On-air time, upload, send buffer and what the server reports, while live. */
export function FiguresPanel({ snap, now }: { snap: IngestSnapshot; now: number }) {
  return (
    <section className="panel" aria-labelledby="figures-heading">
      <h2 id="figures-heading">Live figures</h2>
      <dl className="figures">
        <dt>On air</dt>
        <dd>{snap.liveSince ? formatDuration(now - snap.liveSince) : '–'}</dd>
        <dt>Upload</dt>
        <dd>{formatBitrate(snap.uploadBps)}</dd>
        <dt>Send buffer</dt>
        <dd>{Math.round(snap.bufferedAmount / 1024)} KB</dd>
        <dt>Server receives</dt>
        <dd>{snap.stats?.ingest ? `${num(snap.stats.ingest.fps)} fps · ${formatBitrate((snap.stats.ingest.bitrateKbps ?? 0) * 1000)}` : '–'}</dd>
        <dt>Relay</dt>
        <dd>{snap.stats?.relay ? `${snap.stats.relay.live ? 'live' : 'not live'} · ${num(snap.stats.relay.fps)} fps` : '–'}</dd>
        <dt>Video</dt>
        <dd>
          {codecOf(snap.mimeType)} {snap.transcode ? '(re-encoded to H.264 by the server)' : '(passed through)'}
        </dd>
        {snap.reconnects > 0 && (
          <>
            <dt>Reconnects</dt>
            <dd>{snap.reconnects}</dd>
          </>
        )}
      </dl>
    </section>
  );
}

/** The watch page address with Copy and Open. */
function WatchLink({ url }: { url: string }) {
  const { copied, copy } = useCopy(url);
  return (
    <div className="field">
      <span className="field-label" id="watch-link-label">
        Watch link
      </span>
      <div className="copy-row">
        <a aria-describedby="watch-link-label" className="copy-link" href={url} data-testid="watch-link" target="_blank" rel="noopener noreferrer">
          {url}
        </a>
        <button type="button" className="button button-small" onClick={() => void copy()} aria-label="Copy watch link">
          {copied ? 'Copied' : 'Copy'}
        </button>
        <a className="button button-small" href={url} target="_blank" rel="noopener noreferrer" aria-label="Open watch page in a new tab">
          Open
        </a>
      </div>
    </div>
  );
}
