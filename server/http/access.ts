/**
 * Who may do what over HTTP: the operator (Bearer token or a signed-in page's cookie) manages streams; in
 * BROADCAST_AUTH=open anyone may also create streams, rate-limited per address. Writes must be JSON (a foreign page
 * cannot send that without a CORS preflight, which we never grant) and, when a browser says where it comes from
 * (`Origin`), come from this server's own origin or PUBLIC_URL.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FailureLimiter, RateLimiter, requestAddress } from '../auth/limiter';
import type { OperatorCredential } from '../auth/operator';
import { clearedSessionCookie, readCookie, SESSION_COOKIE, SESSION_TTL_MS, sessionCookie, type SessionStore } from '../auth/sessions';
import { HttpError } from './respond';

export type BroadcastAuth = 'token' | 'open';

export interface AccessOptions {
  credential: OperatorCredential;
  sessions: SessionStore;
  broadcastAuth: BroadcastAuth;
  publicUrl: string | undefined;
  /** Stream creations per minute per address for non-operators (BROADCAST_AUTH=open). */
  createsPerMinute: number;
  failures?: FailureLimiter;
  /** This server serves HTTPS itself (TLS_CERT): cookies are Secure. */
  tls?: boolean;
}

/** Does this request's Origin (if any) name this server? Browsers send Origin on every write and WebSocket. */
export function originAllowed(req: IncomingMessage, publicUrl: string | undefined): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true; // not a browser: curl, OBS, scripts
  if (Array.isArray(origin) || origin === 'null') return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (publicUrl && url.origin === new URL(publicUrl).origin) return true;
  const host = req.headers.host;
  return !!host && (url.protocol === 'http:' || url.protocol === 'https:') && url.host === host.toLowerCase();
}

export class Access {
  readonly failures: FailureLimiter;
  private readonly creates: RateLimiter;
  private readonly secureCookies: boolean;

  constructor(private readonly opts: AccessOptions) {
    this.failures = opts.failures ?? new FailureLimiter();
    this.creates = new RateLimiter(Math.max(1, opts.createsPerMinute), opts.createsPerMinute);
    this.secureCookies = !!opts.publicUrl?.startsWith('https:') || !!opts.tls;
  }

  get broadcastAuth(): BroadcastAuth {
    return this.opts.broadcastAuth;
  }

  private slowedDown(address: string): void {
    const v = this.failures.check(address);
    if (!v.ok) {
      throw new HttpError(429, `too many failed sign-ins from this address: try again in ${v.retryAfterSeconds} s`, {
        'Retry-After': String(v.retryAfterSeconds),
      });
    }
  }

  /**
   * Is this the operator? A Bearer token is checked (a wrong one counts as a failure and is a 401 at once); else the
   * session cookie. Addresses with too many failures get 429 before their token is looked at.
   */
  isOperator(req: IncomingMessage): boolean {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const address = requestAddress(req);
      this.slowedDown(address);
      const m = /^Bearer[ ]+(\S{1,512})\s*$/i.exec(auth);
      if (m && this.opts.credential.check(m[1])) {
        this.failures.succeed(address);
        return true;
      }
      this.failures.fail(address);
      throw new HttpError(401, m ? 'wrong operator token' : 'the Authorization header must be "Bearer <operator token>"', { 'WWW-Authenticate': 'Bearer' });
    }
    return this.opts.sessions.fromRequest(req);
  }

  requireOperator(req: IncomingMessage): void {
    if (!this.isOperator(req)) {
      throw new HttpError(401, 'operator sign-in required: sign in on /signin or send Authorization: Bearer <token>', { 'WWW-Authenticate': 'Bearer' });
    }
  }

  /** May this request create a stream? The operator always; anyone in open mode, within the per-address rate. */
  requireCreator(req: IncomingMessage): void {
    if (this.isOperator(req)) return;
    if (this.opts.broadcastAuth !== 'open') this.requireOperator(req);
    const v = this.creates.take(requestAddress(req));
    if (!v.ok) {
      throw new HttpError(429, `too many streams created from this address: try again in ${v.retryAfterSeconds} s`, {
        'Retry-After': String(v.retryAfterSeconds),
      });
    }
  }

  /** Every API write: JSON only (415), from our own origin (403). */
  checkWrite(req: IncomingMessage, needsJson: boolean): void {
    if (!originAllowed(req, this.opts.publicUrl)) throw new HttpError(403, `requests from ${String(req.headers.origin).slice(0, 100)} are not allowed`);
    if (needsJson) {
      const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/json') throw new HttpError(415, 'send Content-Type: application/json');
    }
  }

  /** POST /api/session {token}: a right token sets the session cookie. */
  signIn(req: IncomingMessage, res: ServerResponse, token: string): void {
    const address = requestAddress(req);
    this.slowedDown(address);
    if (!this.opts.credential.check(token)) {
      this.failures.fail(address);
      throw new HttpError(401, 'wrong operator token');
    }
    this.failures.succeed(address);
    const id = this.opts.sessions.create();
    res.setHeader('Set-Cookie', sessionCookie(id, { secure: this.secureCookies, maxAgeSeconds: Math.floor(SESSION_TTL_MS / 1000) }));
  }

  signOut(req: IncomingMessage, res: ServerResponse): void {
    this.opts.sessions.destroy(readCookie(req.headers.cookie, SESSION_COOKIE));
    res.setHeader('Set-Cookie', clearedSessionCookie(this.secureCookies));
  }

  /** For GET /api/session: never throws (a wrong Bearer is just "not signed in" here). */
  signedIn(req: IncomingMessage): boolean {
    return this.opts.sessions.fromRequest(req);
  }
}
