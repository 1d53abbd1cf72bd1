/**
 * The stream this browser broadcasts to, kept in localStorage (`golive.stream`) so a reload or a reconnect goes on
 * with the same id and key.
 */

import { SignedOutError, errorText } from '../lib/session';

export const STORAGE_KEY = 'golive.stream';

export interface StoredStream {
  id: string;
  key: string;
  /** RTMP server URL for OBS (`urls.obsServer` of POST /api/streams). */
  obsServer?: string;
}

export function loadStream(): StoredStream | null {
  try {
    const raw = window.localStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const v = JSON.parse(raw) as Partial<StoredStream> | null;
    if (!v || typeof v.id !== 'string' || typeof v.key !== 'string' || !v.id || !v.key) return null;
    return { id: v.id, key: v.key, ...(typeof v.obsServer === 'string' ? { obsServer: v.obsServer } : {}) };
  } catch {
    return null;
  }
}

export function saveStream(s: StoredStream): void {
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(s));
  } catch {
    /* private mode: the stream lives as long as the page */
  }
}

export function forgetStream(): void {
  try {
    window.localStorage.removeItem(STORAGE_KEY);
  } catch {
    /* nothing stored */
  }
}

export { SignedOutError };

/**
 * POST /api/streams, signed in by the session cookie (same origin). Throws an Error fit to show; a SignedOutError
 * when the server wants the operator to sign in.
 */
export async function createStream(title: string): Promise<StoredStream> {
  let res: Response;
  try {
    res = await fetch('/api/streams', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(title ? { title } : {}),
    });
  } catch (err) {
    throw new Error(`Could not reach the server to create a stream: ${(err as Error).message}`);
  }
  if (res.status === 401) throw new SignedOutError(`Sign in to create a stream: ${await errorText(res)}`);
  if (!res.ok) throw new Error(`Could not create a stream: ${await errorText(res)}`);
  const body = (await res.json()) as { id: string; key: string; urls?: { obsServer?: string } };
  const stream: StoredStream = { id: body.id, key: body.key, ...(body.urls?.obsServer ? { obsServer: body.urls.obsServer } : {}) };
  saveStream(stream);
  return stream;
}

/**
 * The RTMP server URL of a stored stream that lacks it (stored by hand or by an older page): derived from
 * GET /api/streams/<id>. Null when the server does not know the stream.
 */
/** The RTMP server URL and, when the server has RTMPS_PORT, the RTMPS one, from GET /api/streams/<id>. */
export async function fetchObsServers(id: string): Promise<{ rtmp: string; rtmps: string | null } | null> {
  const res = await fetch(`/api/streams/${encodeURIComponent(id)}`, { cache: 'no-store' });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`Could not look up stream ${id}: ${await errorText(res)}`);
  const body = (await res.json()) as { urls?: { rtmpPlay?: string; rtmpsPlay?: string } };
  const suffix = `/${id}`;
  const play = body.urls?.rtmpPlay ?? '';
  if (!play.endsWith(suffix)) throw new Error(`Could not look up stream ${id}: no RTMP address`);
  const tls = body.urls?.rtmpsPlay ?? '';
  return { rtmp: play.slice(0, -suffix.length), rtmps: tls.endsWith(suffix) ? tls.slice(0, -suffix.length) : null };
}

export interface IngestInfo {
  available: boolean;
  reason?: string;
  maxMessageBytes: number;
}

/** GET /api/ingest. A server without the route has no browser ingest. */
export async function fetchIngestInfo(): Promise<IngestInfo> {
  const res = await fetch('/api/ingest', { cache: 'no-store' });
  if (res.status === 404) return { available: false, reason: 'this server has no browser ingest (/api/ingest not found)', maxMessageBytes: 0 };
  if (!res.ok) throw new Error(`GET /api/ingest answered ${res.status}`);
  const body = (await res.json()) as Partial<IngestInfo>;
  return {
    available: body.available === true,
    reason: typeof body.reason === 'string' ? body.reason : undefined,
    maxMessageBytes: typeof body.maxMessageBytes === 'number' && body.maxMessageBytes > 0 ? body.maxMessageBytes : 1024 * 1024,
  };
}
