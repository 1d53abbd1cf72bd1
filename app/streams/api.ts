/**
 * The operator's stream API (docs in README "API"), signed in by the session cookie: same origin, JSON bodies with
 * `Content-Type: application/json` (the server refuses writes without it). No React here.
 */
import { apiCall } from '../lib/api';

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
}

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

export function updateStream(id: string, change: { title?: string; listed?: boolean }): Promise<ManagedStream> {
  return call<ManagedStream>('PATCH', one(id), change);
}

export function deleteStream(id: string): Promise<void> {
  return call<void>('DELETE', one(id));
}

export function rotateKey(id: string): Promise<IssuedKey> {
  return call<IssuedKey>('POST', `${one(id)}/key`, {});
}
