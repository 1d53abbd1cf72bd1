/**
 * The server's embedded database: one SQLite file, DATA_DIR/golive.db, through better-sqlite3 (synchronous; a
 * statement on this data is a few microseconds). WAL mode: a write is one transaction appended to the log, readers
 * never wait, and a `kill -9` loses nothing that was committed (synchronous=NORMAL: a power cut may lose the last
 * transactions, never the file). The schema is versioned with `PRAGMA user_version`; each migration runs once, in a
 * transaction of its own.
 *
 * A file that is not a database, is corrupt or cannot be opened stops the server with one line (StoreError): it is
 * never silently replaced by an empty one.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export type Db = Database.Database;

export class StoreError extends Error {
  override name = 'StoreError';
}

export const DB_FILE = 'golive.db';

/** Schema steps; index i takes user_version i to i + 1. Append only. */
const MIGRATIONS: string[] = [
  `CREATE TABLE streams (
     id TEXT PRIMARY KEY,
     title TEXT NOT NULL DEFAULT '',
     created_at INTEGER NOT NULL,
     key_hash BLOB NOT NULL,
     listed INTEGER NOT NULL DEFAULT 1,
     last_live_at INTEGER,
     -- Never-published streams expire counted from here: creation, or the import from streams.json.
     unused_since INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE sessions (
     id_hash BLOB PRIMARY KEY,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     credential TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`,
  // Recordings (server/record/): one row per recorded broadcast, one per complete segment appended to its file.
  `CREATE TABLE recordings (
     id TEXT PRIMARY KEY,
     stream_id TEXT NOT NULL,
     started_at INTEGER NOT NULL,
     ended_at INTEGER,
     duration_us INTEGER NOT NULL DEFAULT 0,
     bytes INTEGER NOT NULL DEFAULT 0,
     init_size INTEGER NOT NULL,
     state TEXT NOT NULL,
     error TEXT
   ) WITHOUT ROWID;
   CREATE INDEX recordings_by_stream ON recordings (stream_id, started_at);
   CREATE INDEX recordings_by_start ON recordings (started_at);
   CREATE TABLE recording_segments (
     recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     offset INTEGER NOT NULL,
     size INTEGER NOT NULL,
     media_time_us INTEGER NOT NULL,
     duration_us INTEGER NOT NULL,
     independent INTEGER NOT NULL,
     discontinuity INTEGER NOT NULL,
     PRIMARY KEY (recording_id, seq)
   ) WITHOUT ROWID;`,
  // Forward targets (server/forward/store.ts): the url holds the platform's stream key, a secret.
  `CREATE TABLE forwards (
     id TEXT PRIMARY KEY,
     stream_id TEXT NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
     url TEXT NOT NULL,
     label TEXT NOT NULL DEFAULT '',
     enabled INTEGER NOT NULL DEFAULT 1,
     created_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX forwards_by_stream ON forwards (stream_id, created_at);`,
  // Recording thumbnails (server/record/thumbnail.ts): 1 when RECORDINGS_DIR/<rid>.jpg was taken while live.
  `ALTER TABLE recordings ADD COLUMN thumbnail INTEGER NOT NULL DEFAULT 0;`,
  // Recording per stream (the stream manager): 1 on, 0 off, NULL follows RECORD.
  `ALTER TABLE streams ADD COLUMN record INTEGER;`,
  // The stream's title when the broadcast started (its recording keeps it through renames); NULL in rows made before
  // this column: their stream's title stands in.
  `ALTER TABLE recordings ADD COLUMN title TEXT;`,
];

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
}

/** Open (creating if needed) the database in `dataDir`; null gives a private in-memory database. */
export function openDb(dataDir: string | null): Db {
  let file = ':memory:';
  if (dataDir) {
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new StoreError(`cannot create DATA_DIR ${dataDir}: ${describe(err)}`);
    }
    file = path.join(dataDir, DB_FILE);
  }
  let db: Db;
  try {
    db = new Database(file, { fileMustExist: false });
  } catch (err) {
    throw new StoreError(`cannot open the database ${file}: ${describe(err)}`);
  }
  try {
    // The first read of the file: a non-database or a corrupt header fails here.
    if (dataDir) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 2000');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`integrity check: ${String(check)}`);
    migrate(db);
  } catch (err) {
    db.close();
    throw new StoreError(`the database ${file} is unreadable or corrupt (${describe(err)}); restore it from a backup or move it away to start empty`);
  }
  return db;
}

function migrate(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new Error(`schema version ${version} is newer than this server knows (${MIGRATIONS.length}): was it made by a newer GoLive?`);
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export function getMeta(db: Db, name: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE name = ?').get(name) as { value: string } | undefined;
  return row?.value;
}

export function setMeta(db: Db, name: string, value: string): void {
  db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value').run(name, value);
}
