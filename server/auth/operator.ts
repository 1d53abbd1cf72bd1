/**
 * The operator credential: one secret token that creating, editing and deleting streams need. It comes from
 * ADMIN_TOKEN, or else from DATA_DIR/admin-token, which the server makes on first start (mode 0600, readable only by
 * its owner). Deleting that file and restarting makes a new token and ends every signed-in page.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const TOKEN_FILE = 'admin-token';
/** ADMIN_TOKEN must be at least this long (config.ts checks it). */
export const MIN_TOKEN_LENGTH = 16;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class OperatorCredential {
  private readonly hash: Buffer;
  /** Identifies this token without revealing it: sign-in sessions made under another token are void. */
  readonly fingerprint: string;

  constructor(
    private readonly token: string,
    /** Where it came from: the environment, a file made now, or a file made before. */
    readonly source: 'env' | 'created' | 'file',
    readonly file: string | null = null,
  ) {
    this.hash = digest(token);
    this.fingerprint = createHash('sha256').update(`golive-operator:${token}`).digest('hex').slice(0, 32);
  }

  /** Constant time in the token and in what is given (both are hashed to 32 bytes first). */
  check(given: string): boolean {
    return timingSafeEqual(digest(given), this.hash);
  }

  /** The sign-in link for the log: the token rides in the fragment, which browsers never send or log. */
  signInLink(origin: string): string {
    return `${origin}/signin#token=${encodeURIComponent(this.token)}`;
  }

  /**
   * ADMIN_TOKEN when set; else DATA_DIR/admin-token, made now if missing. `dataDir` null (tests, in-memory registries)
   * without a token gets a random one that lives as long as the process.
   */
  static load(dataDir: string | null, envToken: string | undefined): OperatorCredential {
    if (envToken) return new OperatorCredential(envToken, 'env');
    if (!dataDir) return new OperatorCredential(randomBytes(32).toString('base64url'), 'created');
    const file = path.join(dataDir, TOKEN_FILE);
    try {
      const token = readFileSync(file, 'utf8').trim();
      if (token.length < MIN_TOKEN_LENGTH) throw new Error(`${file} holds no token of at least ${MIN_TOKEN_LENGTH} characters: delete it to make a new one`);
      // Someone loosened it: the token is only the owner's.
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
      return new OperatorCredential(token, 'file', file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const token = randomBytes(32).toString('base64url');
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return new OperatorCredential(token, 'created', file);
  }
}
