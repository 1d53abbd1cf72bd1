'use client';

import Link from 'next/link';
import { useEffect, useState } from 'react';
import { formatDuration } from '../lib/clock';

export interface LiveStream {
  id: string;
  title: string;
  live: boolean;
  startedAt: string | null;
  viewers: number;
  /** Snapshot URL when the server has one to show (never requested otherwise: no failed image requests). */
  snapshot: string | null;
}

/** Snapshots are remade at most every 10 s on the server; the URL changes with each 10 s so the card follows. */
const SNAPSHOT_EVERY_MS = 10_000;

/** A recent frame of the stream, or a plain placeholder when there is none (yet). */
function Snapshot({ url, title, now }: { url: string | null; title: string; now: number }) {
  const src = url ? `${url}?t=${Math.floor(now / SNAPSHOT_EVERY_MS)}` : null;
  // The URL that failed: the placeholder shows until the next one (a stream that just went live has no keyframe yet).
  const [failed, setFailed] = useState<string | null>(null);
  // Hidden until its first image has loaded; after that a new URL loads behind the picture it replaces.
  const [loaded, setLoaded] = useState(false);
  return (
    <div className="card-thumb">
      {src === null || failed === src ? (
        <span className="card-thumb-empty">No preview</span>
      ) : (
        <img
          src={src}
          alt={`Snapshot of ${title || 'Untitled stream'}`}
          loading="lazy"
          decoding="async"
          className={loaded ? undefined : 'pending'}
          data-testid="live-snapshot"
          onLoad={(e) => {
            e.currentTarget.style.visibility = '';
            setLoaded(true);
          }}
          onError={(e) => {
            // Hidden at once, before React renders the placeholder: never a broken-image icon.
            e.currentTarget.style.visibility = 'hidden';
            setLoaded(false);
            setFailed(src);
          }}
        />
      )}
    </div>
  );
}

function onAir(startedAt: string | null, now: number): string {
  return startedAt ? formatDuration(now - Date.parse(startedAt)) : '';
}

/** What is live now; refreshes itself without a page reload. */
export function LiveList() {
  const [streams, setStreams] = useState<LiveStream[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const res = await fetch('/api/streams', { cache: 'no-store' });
        if (!res.ok) throw new Error(`server answered ${res.status}`);
        const body = (await res.json()) as { streams: LiveStream[] };
        if (!stopped) {
          setStreams(body.streams);
          setError(null);
        }
      } catch (err) {
        if (!stopped) setError(`Could not load the live list: ${(err as Error).message}`);
      }
      if (!stopped) timer = setTimeout(load, 3000);
    };
    void load();
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      clearInterval(tick);
    };
  }, []);

  if (error && !streams) return <div className="alert alert-error">{error}</div>;
  if (!streams) return <p className="muted">Loading…</p>;
  if (streams.length === 0) {
    return (
      <div className="panel empty" data-testid="live-empty">
        <h2>Nobody is live right now</h2>
        <p>Be the first: go live from this browser, nothing to install.</p>
        <Link href="/broadcast" className="button button-primary">
          Go live
        </Link>
      </div>
    );
  }
  return (
    <div className="cards" data-testid="live-list">
      {streams.map((s) => (
        <Link key={s.id} href={`/watch/${s.id}`} className="card" data-testid="live-card">
          <Snapshot url={s.snapshot} title={s.title} now={now} />
          <span className="badge badge-live">Live</span>
          <h3>{s.title || 'Untitled stream'}</h3>
          <div className="muted">
            {onAir(s.startedAt, now)} on air · {s.viewers} watching
          </div>
        </Link>
      ))}
    </div>
  );
}
