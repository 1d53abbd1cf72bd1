/**
 * Forward targets per stream, in the server's database (table `forwards`, server/store/db.ts). A target's URL holds
 * the platform's stream key: it is kept as given (we need it to publish), and leaves this module only towards the
 * forward connection; the API and the log get `maskUrl`. Rows go with their stream (ON DELETE CASCADE).
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db';

export const MAX_FORWARDS_PER_STREAM = 10;
export const MAX_LABEL_LENGTH = 80;
export const FORWARD_ID_PATTERN = /^[a-z0-9]{1,32}$/;

export interface ForwardRecord {
  id: string;
  streamId: string;
  /** The full URL, key included: never to be shown or logged. */
  url: string;
  label: string;
  enabled: boolean;
  createdAt: number;
}

interface Row {
  id: string;
  stream_id: string;
  url: string;
  label: string;
  enabled: number;
  created_at: number;
}

export class TooManyForwardsError extends Error {}

const fromRow = (r: Row): ForwardRecord => ({ id: r.id, streamId: r.stream_id, url: r.url, label: r.label, enabled: r.enabled !== 0, createdAt: r.created_at });

export class ForwardStore {
  private readonly sql;

  constructor(db: Db) {
    this.sql = {
      list: db.prepare('SELECT * FROM forwards WHERE stream_id = ? ORDER BY created_at, id'),
      count: db.prepare('SELECT COUNT(*) AS n FROM forwards WHERE stream_id = ?'),
      get: db.prepare('SELECT * FROM forwards WHERE stream_id = ? AND id = ?'),
      insert: db.prepare('INSERT INTO forwards (id, stream_id, url, label, enabled, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
      update: db.prepare('UPDATE forwards SET url = ?, label = ?, enabled = ? WHERE stream_id = ? AND id = ?'),
      remove: db.prepare('DELETE FROM forwards WHERE stream_id = ? AND id = ?'),
    };
  }

  list(streamId: string): ForwardRecord[] {
    return (this.sql.list.all(streamId) as Row[]).map(fromRow);
  }

  get(streamId: string, id: string): ForwardRecord | null {
    const r = this.sql.get.get(streamId, id) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  /** A new target of a stored stream (the caller checked that it exists). */
  create(streamId: string, t: { url: string; label: string; enabled: boolean }, now = Date.now()): ForwardRecord {
    const { n } = this.sql.count.get(streamId) as { n: number };
    if (n >= MAX_FORWARDS_PER_STREAM) throw new TooManyForwardsError(`a stream has at most ${MAX_FORWARDS_PER_STREAM} forward targets`);
    const id = randomBytes(6).toString('hex');
    this.sql.insert.run(id, streamId, t.url, t.label, t.enabled ? 1 : 0, now);
    return { id, streamId, url: t.url, label: t.label, enabled: t.enabled, createdAt: now };
  }

  update(streamId: string, id: string, change: { url?: string; label?: string; enabled?: boolean }): ForwardRecord | null {
    const r = this.get(streamId, id);
    if (!r) return null;
    const next = { ...r, ...Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) } as ForwardRecord;
    this.sql.update.run(next.url, next.label, next.enabled ? 1 : 0, streamId, id);
    return next;
  }

  delete(streamId: string, id: string): boolean {
    return this.sql.remove.run(streamId, id).changes > 0;
  }
}
