/**
 * The operator's stream API (docs in README "API"), signed in by the session cookie: same origin, JSON bodies with
 * `Content-Type: application/json` (the server refuses writes without it). No React here.
 */
import { apiCall } from '../lib/api';
import type { Recording } from '../lib/recording';

export type StreamState = 'idle' | 'live' | 'reconnecting';

export interface StreamUrls {
  watch: string;
  hls: string;
  rtmpPlay: string;
}

export interface ManagedStream {
  id: string;
  title: string;
  listed: boolean;
  /** Null for a stream live without a stored record (PUBLISH_AUTH=none). */
  createdAt: string | null;
  lastLiveAt: string | null;
  state: StreamState;
  live: boolean;
  viewers: number;
  urls: StreamUrls;
  /** Recording of its broadcasts as the operator set it: true/false, or null to follow the server's RECORD. */
  record: boolean | null;
  /** Whether its next broadcast is recorded. */
  recorded: boolean;
}

/** One of a stream's recordings (GET /api/streams/<id>/recordings). */
export type StreamRecording = Recording & { thumbnail: string | null };

/** A stream key, as the server shows it: once, when created or rotated. */
export interface IssuedKey {
  id: string;
  key: string;
  urls: { rtmpPublish: string; obsServer: string; obsStreamKey: string };
}

export interface CreatedStream extends IssuedKey {
  title: string;
  listed: boolean;
  createdAt: string;
}

const call = apiCall;

const one = (id: string) => `/api/streams/${encodeURIComponent(id)}`;

/** GET /api/streams?all=1: every stream, live or not, listed or not. */
export async function listAll(): Promise<ManagedStream[]> {
  const body = await call<{ streams?: ManagedStream[] }>('GET', '/api/streams?all=1');
  return Array.isArray(body.streams) ? body.streams : [];
}

export function createManaged(title: string, listed: boolean): Promise<CreatedStream> {
  return call<CreatedStream>('POST', '/api/streams', { ...(title ? { title } : {}), listed });
}

export function updateStream(id: string, change: { title?: string; listed?: boolean; record?: boolean | null }): Promise<ManagedStream> {
  return call<ManagedStream>('PATCH', one(id), change);
}

export function deleteStream(id: string): Promise<void> {
  return call<void>('DELETE', one(id));
}

export function rotateKey(id: string): Promise<IssuedKey> {
  return call<IssuedKey>('POST', `${one(id)}/key`, {});
}

/** A page of the stream's recordings, newest first; `next` is the cursor of the page after. */
export function listRecordings(id: string, cursor: string | null): Promise<{ recordings: StreamRecording[]; next: string | null }> {
  const q = new URLSearchParams({ limit: '10' });
  if (cursor) q.set('cursor', cursor);
  return call('GET', `${one(id)}/recordings?${q}`);
}

/** DELETE /api/recordings/<rid>: the recording, its file and its thumbnail. */
export function deleteRecording(rid: string): Promise<void> {
  return call<void>('DELETE', `/api/recordings/${encodeURIComponent(rid)}`);
}
