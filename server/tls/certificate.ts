/**
 * TLS_CERT / TLS_KEY: read and check the PEM files, and keep every TLS listener (HTTPS on PORT, RTMPS) on the
 * newest good pair. A reload (SIGHUP, or the files changing) that finds a bad pair keeps the old one and logs why,
 * so a half-written renewal never takes the server off the air.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import tls from 'node:tls';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** A checked certificate and key: what `tls.createServer` and `setSecureContext` take. */
export interface LoadedCertificate {
  cert: Buffer;
  key: Buffer;
  /** For the log: subject, names, validity, fingerprint. */
  subject: string;
  names: string[];
  validTo: Date;
  fingerprint: string;
}

export class TlsCertificateError extends Error {
  override name = 'TlsCertificateError';
}

function readPem(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TlsCertificateError(`${variable}=${file}: cannot read it (${code ?? (err as Error).message})`);
  }
}

/** Read both files and check that they make a usable pair. Throws TlsCertificateError with one line naming the problem. */
export function loadCertificate(files: TlsFiles): LoadedCertificate {
  const cert = readPem(files.certFile, 'TLS_CERT');
  const key = readPem(files.keyFile, 'TLS_KEY');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new TlsCertificateError(`TLS_CERT=${files.certFile}: not a PEM certificate (${(err as Error).message})`);
  }
  try {
    createPrivateKey(key);
  } catch (err) {
    throw new TlsCertificateError(`TLS_KEY=${files.keyFile}: not a PEM private key (${(err as Error).message})`);
  }
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw new TlsCertificateError(`TLS_CERT=${files.certFile} and TLS_KEY=${files.keyFile} do not go together (${(err as Error).message})`);
  }
  const names = (x509.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    cert,
    key,
    subject: x509.subject.replace(/\n/g, ', '),
    names,
    validTo: new Date(x509.validTo),
    fingerprint: x509.fingerprint256,
  };
}

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** How often the files are looked at (stat) for a change; a renewal is picked up within about this long. */
export const WATCH_INTERVAL_MS = 2000;
/** After a change is seen, wait this long for the other file of the pair to be written too. */
const SETTLE_MS = 500;

/**
 * The current certificate of every TLS listener. `reload()` (SIGHUP; the file watcher) reads the files again and
 * hands a good pair to each server's `setSecureContext`: connections made from then on get it, open ones keep theirs.
 */
export class CertificateKeeper {
  private readonly servers: tls.Server[] = [];
  private settle: NodeJS.Timeout | null = null;
  private watcher: ((cur: Stats, prev: Stats) => void) | null = null;
  /** Reloads that took a new pair / kept the old one (for tests and the log). */
  readonly counts = { reloaded: 0, refused: 0 };

  constructor(
    readonly files: TlsFiles,
    private current: LoadedCertificate,
    private readonly log: Log,
  ) {
    this.warnIfExpiring();
  }

  /** Start-up: load the pair or throw TlsCertificateError. */
  static open(files: TlsFiles, log: Log): CertificateKeeper {
    return new CertificateKeeper(files, loadCertificate(files), log);
  }

  get certificate(): LoadedCertificate {
    return this.current;
  }

  /** Options for `tls.createServer` / `https.createServer`. */
  secureOptions(): { cert: Buffer; key: Buffer } {
    return { cert: this.current.cert, key: this.current.key };
  }

  /** Keep this server on the current pair from now on. */
  attach(server: tls.Server): void {
    this.servers.push(server);
  }

  describe(): string {
    const c = this.current;
    return `${c.subject}${c.names.length ? ` (${c.names.join(', ')})` : ''}, valid until ${c.validTo.toISOString()}`;
  }

  /** Read the files again; a good pair replaces the current one on every server. Returns whether it did. */
  reload(why: string): boolean {
    let next: LoadedCertificate;
    try {
      next = loadCertificate(this.files);
    } catch (err) {
      this.counts.refused++;
      this.log.error({ why }, `TLS certificate not reloaded (${why}), the old one stays: ${(err as Error).message}`);
      return false;
    }
    if (next.fingerprint === this.current.fingerprint && next.key.equals(this.current.key)) {
      this.log.info({ why }, `TLS certificate unchanged (${why})`);
      return true;
    }
    for (const s of this.servers) s.setSecureContext({ cert: next.cert, key: next.key });
    this.current = next;
    this.counts.reloaded++;
    this.log.info({ why, fingerprint: next.fingerprint }, `TLS certificate reloaded (${why}): ${this.describe()}`);
    this.warnIfExpiring();
    return true;
  }

  /** Watch both files (polling stat: it follows symlinks, as certbot's live/ directory uses them). */
  watch(intervalMs = WATCH_INTERVAL_MS): void {
    if (this.watcher) return;
    const changed = (cur: Stats, prev: Stats) => {
      if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
      if (this.settle) clearTimeout(this.settle);
      this.settle = setTimeout(() => {
        this.settle = null;
        this.reload('the files changed');
      }, SETTLE_MS);
      this.settle.unref();
    };
    this.watcher = changed;
    for (const f of new Set([this.files.certFile, this.files.keyFile])) watchFile(f, { interval: intervalMs, persistent: false }, changed);
  }

  close(): void {
    if (this.settle) clearTimeout(this.settle);
    this.settle = null;
    const w = this.watcher;
    if (!w) return;
    this.watcher = null;
    for (const f of new Set([this.files.certFile, this.files.keyFile])) unwatchFile(f, w);
  }

  private warnIfExpiring(): void {
    const left = this.current.validTo.getTime() - Date.now();
    if (left <= 0) this.log.warn({ validTo: this.current.validTo }, `TLS certificate expired on ${this.current.validTo.toISOString()}: browsers will refuse it`);
    else if (left < 7 * 86_400_000) this.log.warn({ validTo: this.current.validTo }, `TLS certificate expires on ${this.current.validTo.toISOString()}`);
  }
}
