import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Stream identities and their publish keys. A key is `<id>_<secret>`; only a SHA-256 of the
 * secret is stored (in DATA_DIR/streams.json), and it is compared in constant time. Keys keep
 * working across restarts, so an OBS user configures once.
 */

export const STREAM_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;
export const MAX_TITLE_LENGTH = 120;

export interface StreamRecord {
  id: string;
  title: string;
  createdAt: string;
  /** sha256(secret), hex. Absent for streams opened without a key (PUBLISH_AUTH=none). */
  keyHash?: string;
}

const ID_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

function newId(): string {
  const bytes = randomBytes(10);
  let s = '';
  for (const b of bytes) s += ID_ALPHABET[b % ID_ALPHABET.length];
  return s;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

export class RegistryFullError extends Error {}

export class StreamRegistry {
  /** Live session keys per stream id (sha256 of the secret). */
  private readonly sessionKeys = new Map<string, Set<Buffer>>();
  private records = new Map<string, StreamRecord>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string | null,
    private readonly maxStreams: number,
  ) {}

  /** Load DATA_DIR/streams.json (created on first write). `dataDir` null keeps everything in memory. */
  static async open(dataDir: string | null, maxStreams = 10_000): Promise<StreamRegistry> {
    const reg = new StreamRegistry(dataDir ? path.join(dataDir, 'streams.json') : null, maxStreams);
    if (reg.file) {
      await mkdir(path.dirname(reg.file), { recursive: true });
      let text: string | null = null;
      try {
        text = await readFile(reg.file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (text) {
        const parsed = JSON.parse(text) as { streams?: StreamRecord[] };
        for (const r of parsed.streams ?? []) {
          if (typeof r.id === 'string' && STREAM_ID_PATTERN.test(r.id)) reg.records.set(r.id, r);
        }
      }
    }
    return reg;
  }

  get size(): number {
    return this.records.size;
  }

  get(id: string): StreamRecord | undefined {
    return this.records.get(id);
  }

  /** A new stream with a fresh key. The key is returned once and never stored. */
  async create(title = ''): Promise<{ record: StreamRecord; key: string }> {
    if (this.records.size >= this.maxStreams) throw new RegistryFullError(`this server holds ${this.maxStreams} streams already`);
    let id = newId();
    while (this.records.has(id)) id = newId();
    const secret = randomBytes(24).toString('base64url');
    const record: StreamRecord = {
      id,
      title: title.trim().slice(0, MAX_TITLE_LENGTH),
      createdAt: new Date().toISOString(),
      keyHash: sha256(secret).toString('hex'),
    };
    this.records.set(id, record);
    await this.save();
    return { record, key: `${id}_${secret}` };
  }

  /** A keyless stream for open publishing (PUBLISH_AUTH=none); kept in memory only. */
  ensureOpen(id: string): StreamRecord {
    let r = this.records.get(id);
    if (!r) {
      r = { id, title: '', createdAt: new Date().toISOString() };
      this.records.set(id, r);
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
    const expected = record?.keyHash ? Buffer.from(record.keyHash, 'hex') : sha256('\0no such stream\0');
    let ok = timingSafeEqual(given, expected) && !!record?.keyHash;
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

  setTitle(id: string, title: string): void {
    const r = this.records.get(id);
    if (r) {
      r.title = title.trim().slice(0, MAX_TITLE_LENGTH);
      void this.save();
    }
  }

  private save(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    const body = JSON.stringify({ streams: [...this.records.values()].filter((r) => r.keyHash) }, null, 1);
    this.writing = this.writing.then(async () => {
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, body, { mode: 0o600 });
      await rename(tmp, file);
    });
    return this.writing;
  }
}
