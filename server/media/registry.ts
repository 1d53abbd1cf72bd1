import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { getMeta, openDb, setMeta, StoreError, type Db } from '../store/db';

/**
 * Stream identities and their publish keys, kept in the server's SQLite database (server/store/db.ts). A key is
 * `<id>_<secret>`; only a SHA-256 of the secret is stored, and it is compared in constant time. Keys keep working
 * across restarts, so an OBS user configures once. Every change is one transaction on one row; the rows are also held
 * in a map, written only after the database accepted the change, so lookups on the publish path touch no disk.
 */

export const STREAM_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;
export const MAX_TITLE_LENGTH = 120;

export interface StreamRecord {
  id: string;
  title: string;
  createdAt: string;
  /** sha256(secret). Absent for streams opened without a key (PUBLISH_AUTH=none), which are never stored. */
  keyHash?: Buffer;
  /** In the public directory (`/`, `GET /api/streams`). Unlisted streams play by their link. */
  listed: boolean;
  /** When a publisher last went live on it (ms since epoch), null if never. */
  lastLiveAt: number | null;
  /** Record its broadcasts: true/false set by the operator, null follows RECORD. Read at each new broadcast. */
  record: boolean | null;
}

interface Row {
  id: string;
  title: string;
  created_at: number;
  key_hash: Buffer;
  listed: number;
  last_live_at: number | null;
  record: number | null;
}

const ID_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

function newId(): string {
  const bytes = randomBytes(10);
  let s = '';
  for (const b of bytes) s += ID_ALPHABET[b % ID_ALPHABET.length];
  return s;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const cleanTitle = (title: string) => title.trim().slice(0, MAX_TITLE_LENGTH);
const NO_SUCH_KEY = sha256('\0no such stream\0');

export class RegistryFullError extends Error {}

export interface RegistryOptions {
  /** Streams kept at most (the API answers 503 past it). */
  maxStreams?: number;
  now?: () => number;
}

export class StreamRegistry {
  /** Live session keys per stream id (sha256 of the secret). Memory only. */
  private readonly sessionKeys = new Map<string, Set<Buffer>>();
  private readonly records = new Map<string, StreamRecord>();
  /** Keyless streams of open publishing (PUBLISH_AUTH=none): memory only. */
  private readonly open = new Map<string, StreamRecord>();
  private readonly maxStreams: number;
  private readonly now: () => number;
  private readonly sql;

  constructor(
    readonly db: Db,
    opts: RegistryOptions = {},
  ) {
    this.maxStreams = opts.maxStreams ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.sql = {
      insert: db.prepare('INSERT INTO streams (id, title, created_at, key_hash, listed, unused_since) VALUES (?, ?, ?, ?, ?, ?)'),
      update: db.prepare('UPDATE streams SET title = ?, listed = ?, record = ? WHERE id = ?'),
      key: db.prepare('UPDATE streams SET key_hash = ? WHERE id = ?'),
      live: db.prepare('UPDATE streams SET last_live_at = ? WHERE id = ?'),
      remove: db.prepare('DELETE FROM streams WHERE id = ?'),
      unused: db.prepare('SELECT id FROM streams WHERE last_live_at IS NULL AND unused_since < ?'),
    };
    for (const row of db.prepare('SELECT * FROM streams').iterate() as Iterable<Row>) {
      if (STREAM_ID_PATTERN.test(row.id)) this.records.set(row.id, fromRow(row));
    }
  }

  /**
   * The registry in `dataDir` (its database, created on first use; an old DATA_DIR/streams.json is imported once).
   * `dataDir` null keeps everything in a private in-memory database.
   */
  static async open(dataDir: string | null, maxStreams = 10_000): Promise<StreamRegistry> {
    const db = openDb(dataDir);
    if (dataDir) migrateStreamsJson(db, dataDir);
    return new StreamRegistry(db, { maxStreams });
  }

  get size(): number {
    return this.records.size;
  }

  /** A stored stream, or an open (PUBLISH_AUTH=none) one. */
  get(id: string): StreamRecord | undefined {
    return this.records.get(id) ?? this.open.get(id);
  }

  /** Every stored stream, oldest first. */
  all(): StreamRecord[] {
    return [...this.records.values()];
  }

  /** A new stream with a fresh key. The key is returned once and never stored. */
  async create(title = '', listed = true): Promise<{ record: StreamRecord; key: string }> {
    return this.createSync(title, listed);
  }

  createSync(title = '', listed = true): { record: StreamRecord; key: string } {
    if (this.records.size >= this.maxStreams) throw new RegistryFullError(`this server holds ${this.maxStreams} streams already`);
    let id = newId();
    while (this.records.has(id) || this.open.has(id)) id = newId();
    const secret = randomBytes(24).toString('base64url');
    const now = this.now();
    const record: StreamRecord = {
      id,
      title: cleanTitle(title),
      createdAt: new Date(now).toISOString(),
      keyHash: sha256(secret),
      listed,
      lastLiveAt: null,
      record: null,
    };
    this.sql.insert.run(id, record.title, now, record.keyHash, listed ? 1 : 0, now);
    this.records.set(id, record);
    return { record, key: `${id}_${secret}` };
  }

  /** A keyless stream for open publishing (PUBLISH_AUTH=none); kept in memory only. */
  ensureOpen(id: string): StreamRecord {
    let r = this.get(id);
    if (!r) {
      r = { id, title: '', createdAt: new Date(this.now()).toISOString(), listed: true, lastLiveAt: null, record: null };
      this.open.set(id, r);
    }
    return r;
  }

  /** The stream this key publishes, or null. Constant time in the secret. Session keys (below) count too. */
  verifyKey(key: string): StreamRecord | null {
    const sep = key.indexOf('_');
    const id = sep > 0 ? key.slice(0, sep) : '';
    const secret = sep > 0 ? key.slice(sep + 1) : key;
    const record = this.records.get(id);
    const given = sha256(secret);
    let ok = timingSafeEqual(given, record?.keyHash ?? NO_SUCH_KEY) && !!record?.keyHash;
    for (const hash of this.sessionKeys.get(id) ?? []) ok = timingSafeEqual(given, hash) || ok;
    return ok && record ? record : null;
  }

  /**
   * A key for one publishing session of our own (the browser ingest's ffmpeg), accepted like the stream's key until
   * revoked. The stream's real key then never appears on a process command line (`ps` shows arguments to every user
   * of the machine), and what does appear dies with the session. Memory only.
   */
  issueSessionKey(id: string): { key: string; revoke: () => void } {
    const secret = randomBytes(24).toString('base64url');
    const hash = sha256(secret);
    let set = this.sessionKeys.get(id);
    if (!set) this.sessionKeys.set(id, (set = new Set()));
    set.add(hash);
    const owner = set;
    return {
      key: `${id}_${secret}`,
      revoke: () => {
        owner.delete(hash);
        if (owner.size === 0 && this.sessionKeys.get(id) === owner) this.sessionKeys.delete(id);
      },
    };
  }

  /** Change a stored stream's title and/or listing. Returns the record, or null when there is no such stream. */
  update(id: string, change: { title?: string; listed?: boolean; record?: boolean | null }): StreamRecord | null {
    const r = this.records.get(id);
    if (!r) return null;
    const title = change.title !== undefined ? cleanTitle(change.title) : r.title;
    const listed = change.listed ?? r.listed;
    const record = change.record !== undefined ? change.record : r.record;
    this.sql.update.run(title, listed ? 1 : 0, record === null ? null : record ? 1 : 0, id);
    r.title = title;
    r.listed = listed;
    r.record = record;
    return r;
  }

  /** Best effort (the broadcast page sends a title with its start): false when it could not be stored. */
  setTitle(id: string, title: string): boolean {
    try {
      return this.update(id, { title }) !== null;
    } catch {
      return false;
    }
  }

  /**
   * A new key for the stream; the old one stops working at once (a publish already live with it goes on; its next
   * publish is refused). Returns the new key once, or null when there is no such stream.
   */
  rotateKey(id: string): string | null {
    const r = this.records.get(id);
    if (!r) return null;
    const secret = randomBytes(24).toString('base64url');
    const hash = sha256(secret);
    this.sql.key.run(hash, id);
    r.keyHash = hash;
    return `${id}_${secret}`;
  }

  /** Forget the stream: its key and any session keys stop working. False when there was none. */
  delete(id: string): boolean {
    const r = this.records.get(id);
    this.sessionKeys.delete(id);
    if (!r) return this.open.delete(id);
    this.sql.remove.run(id);
    this.records.delete(id);
    return true;
  }

  /** A publisher went live on it. */
  markLive(id: string, at = this.now()): void {
    const r = this.records.get(id);
    if (!r) return;
    this.sql.live.run(at, id);
    r.lastLiveAt = at;
  }

  /** Delete stored streams never published and created (or imported) before `before` (ms). Returns their ids. */
  expireUnused(before: number): string[] {
    const ids = (this.sql.unused.all(before) as Array<{ id: string }>).map((r) => r.id);
    if (ids.length === 0) return ids;
    this.db.transaction(() => {
      for (const id of ids) this.sql.remove.run(id);
    })();
    for (const id of ids) {
      this.records.delete(id);
      this.sessionKeys.delete(id);
    }
    return ids;
  }
}

function fromRow(row: Row): StreamRecord {
  return {
    id: row.id,
    title: row.title,
    createdAt: new Date(row.created_at).toISOString(),
    keyHash: Buffer.from(row.key_hash),
    listed: row.listed !== 0,
    lastLiveAt: row.last_live_at,
    record: row.record === null || row.record === undefined ? null : row.record !== 0,
  };
}

/**
 * Import DATA_DIR/streams.json (the registry before the database) once, in one transaction, then rename it
 * streams.json.migrated. A file that is not what it should be stops the server (the error names the file) rather than
 * being dropped. Imported streams count as unused from the import, not from their creation.
 */
export function migrateStreamsJson(db: Db, dataDir: string): number {
  if (getMeta(db, 'streams_json_migrated')) return 0;
  const file = path.join(dataDir, 'streams.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreError(`cannot read ${file}: ${(err as Error).message}`);
    setMeta(db, 'streams_json_migrated', new Date().toISOString());
    return 0;
  }
  let parsed: { streams?: Array<{ id?: unknown; title?: unknown; createdAt?: unknown; keyHash?: unknown }> };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (err) {
    throw new StoreError(`${file} is not valid JSON (${(err as Error).message}): fix or remove it`);
  }
  const insert = db.prepare('INSERT OR IGNORE INTO streams (id, title, created_at, key_hash, listed, unused_since) VALUES (?, ?, ?, ?, 1, ?)');
  const importedAt = Date.now();
  let n = 0;
  db.transaction(() => {
    for (const r of parsed.streams ?? []) {
      if (typeof r.id !== 'string' || !STREAM_ID_PATTERN.test(r.id)) continue;
      if (typeof r.keyHash !== 'string' || !/^[0-9a-f]{64}$/.test(r.keyHash)) continue;
      const created = typeof r.createdAt === 'string' ? Date.parse(r.createdAt) : NaN;
      const title = typeof r.title === 'string' ? cleanTitle(r.title) : '';
      n += insert.run(r.id, title, Number.isFinite(created) ? created : importedAt, Buffer.from(r.keyHash, 'hex'), importedAt).changes;
    }
    setMeta(db, 'streams_json_migrated', new Date().toISOString());
  })();
  renameSync(file, `${file}.migrated`);
  return n;
}
