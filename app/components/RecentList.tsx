'use client';

import Link from 'next/link';
import { useEffect, useState } from 'react';
import { formatDuration } from '../lib/clock';
import type { Recording } from '../lib/recording';

/** One entry of GET /api/recordings (ended recordings of listed streams, newest first): a recording's public part. */
export type RecentBroadcast = Pick<Recording, 'id' | 'streamId' | 'title' | 'startedAt' | 'endedAt' | 'durationSeconds'> & {
  /** A frame taken while it was live, or null when none was taken. */
  thumbnail: string | null;
};

const PAGE = 12;

function Thumbnail({ url, title }: { url: string | null; title: string }) {
  const [failed, setFailed] = useState(false);
  return (
    <div className="card-thumb">
      {url === null || failed ? (
        <span className="card-thumb-empty">No preview</span>
      ) : (
        <img src={url} alt={`Thumbnail of ${title || 'Untitled stream'}`} loading="lazy" decoding="async" data-testid="recent-thumbnail" onError={() => setFailed(true)} />
      )}
    </div>
  );
}

function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

async function fetchPage(before: string | null): Promise<{ recordings: RecentBroadcast[]; next: string | null }> {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (before) q.set('before', before);
  const res = await fetch(`/api/recordings?${q}`, { cache: 'no-store' });
  if (!res.ok) throw new Error(`server answered ${res.status}`);
  return (await res.json()) as { recordings: RecentBroadcast[]; next: string | null };
}

/** Recent broadcasts: finished recordings to replay, newest first, more on request. */
export function RecentList() {
  const [items, setItems] = useState<RecentBroadcast[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    let stopped = false;
    fetchPage(null).then(
      (page) => {
        if (stopped) return;
        setItems(page.recordings);
        setNext(page.next);
      },
      (err: Error) => {
        if (!stopped) setError(`Could not load recent broadcasts: ${err.message}`);
      },
    );
    return () => {
      stopped = true;
    };
  }, []);

  const more = async () => {
    setLoading(true);
    try {
      const page = await fetchPage(next);
      setItems((old) => {
        const seen = new Set((old ?? []).map((r) => r.id));
        return [...(old ?? []), ...page.recordings.filter((r) => !seen.has(r.id))];
      });
      setNext(page.next);
      setError(null);
    } catch (err) {
      setError(`Could not load more: ${(err as Error).message}`);
    } finally {
      setLoading(false);
    }
  };

  if (error && !items) return <div className="alert alert-error">{error}</div>;
  if (!items) return <p className="muted">Loading…</p>;
  if (items.length === 0) return <p className="muted" data-testid="recent-empty">No recorded broadcasts yet.</p>;
  return (
    <>
      <div className="cards" data-testid="recent-list">
        {items.map((r) => (
          <Link key={r.id} href={`/watch/${encodeURIComponent(r.streamId)}?recording=${r.id}`} className="card" data-testid="recent-card">
            <Thumbnail url={r.thumbnail} title={r.title} />
            <span className="badge">Replay</span>
            <h3>{r.title || 'Untitled stream'}</h3>
            <div className="muted">
              <time dateTime={r.startedAt}>{when(r.startedAt)}</time> · <span data-testid="recent-duration">{formatDuration(r.durationSeconds * 1000)}</span>
            </div>
          </Link>
        ))}
      </div>
      {error && <div className="alert alert-error">{error}</div>}
      {next && (
        <p>
          <button type="button" className="button" onClick={() => void more()} disabled={loading} data-testid="recent-more">
            {loading ? 'Loading…' : 'More broadcasts'}
          </button>
        </p>
      )}
    </>
  );
}
