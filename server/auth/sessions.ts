/**
 * Signed-in pages: after POST /api/session with the operator token, the page holds a random session id in an
 * HttpOnly, SameSite=Strict cookie; the database keeps only its SHA-256, when it expires, and which token it was made
 * under (a new token voids every session). Bounded: past MAX_SESSIONS the oldest go.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Db } from '../store/db';

export const SESSION_COOKIE = 'golive_session';
export const SESSION_TTL_MS = 30 * 24 * 3600_000;
export const MAX_SESSIONS = 1000;

const hashId = (id: string) => createHash('sha256').update(id).digest();

/** The value of one cookie in a Cookie header, or undefined. Tolerates anything a client sends. */
export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (!text || text.length > 8192) return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}

export interface CookieOptions {
  secure: boolean;
  maxAgeSeconds: number;
}

export function sessionCookie(value: string, opts: CookieOptions): string {
  const parts = [`${SESSION_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${opts.maxAgeSeconds}`];
  if (opts.secure) parts.push('Secure');
  return parts.join('; ');
}

export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie('', { secure, maxAgeSeconds: 0 });
}

export class SessionStore {
  private readonly sql;

  constructor(
    db: Db,
    private readonly credential: string,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = SESSION_TTL_MS,
  ) {
    this.sql = {
      insert: db.prepare('INSERT INTO sessions (id_hash, created_at, expires_at, credential) VALUES (?, ?, ?, ?)'),
      get: db.prepare('SELECT expires_at, credential FROM sessions WHERE id_hash = ?'),
      remove: db.prepare('DELETE FROM sessions WHERE id_hash = ?'),
      count: db.prepare('SELECT COUNT(*) AS n FROM sessions'),
      trim: db.prepare('DELETE FROM sessions WHERE id_hash IN (SELECT id_hash FROM sessions ORDER BY created_at LIMIT ?)'),
      sweep: db.prepare('DELETE FROM sessions WHERE expires_at <= ? OR credential != ?'),
    };
    this.sweep();
  }

  /** Drop expired sessions and those of another token. */
  sweep(): void {
    this.sql.sweep.run(this.now(), this.credential);
  }

  /** A new session; returns its id (for the cookie only: it is not stored). */
  create(): string {
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const n = (this.sql.count.get() as { n: number }).n;
    if (n >= MAX_SESSIONS) this.sql.trim.run(n - MAX_SESSIONS + 1);
    this.sql.insert.run(hashId(id), now, now + this.ttlMs, this.credential);
    return id;
  }

  valid(id: string | undefined): boolean {
    if (!id || id.length > 128) return false;
    const row = this.sql.get.get(hashId(id)) as { expires_at: number; credential: string } | undefined;
    return !!row && row.expires_at > this.now() && row.credential === this.credential;
  }

  destroy(id: string | undefined): void {
    if (id && id.length <= 128) this.sql.remove.run(hashId(id));
  }

  /** Is this request's cookie a live session? */
  fromRequest(req: IncomingMessage): boolean {
    return this.valid(readCookie(req.headers.cookie, SESSION_COOKIE));
  }
}
