/**
 * The operator's sign-in, over the server's HTTP API only: GET/POST/DELETE /api/session. The session is an HttpOnly
 * cookie the server sets; the page never sees or keeps the token after posting it. No React here.
 */

export type AuthMode = 'token' | 'open';

export interface Session {
  signedIn: boolean;
  /** `open`: BROADCAST_AUTH=open, anyone may create streams without signing in. */
  auth: AuthMode;
}

export type SignInResult = { ok: true } | { ok: false; error: string; retryAfterSeconds?: number };

/** Where the sign-in page goes when no (usable) `?next=` is given. */
export const DEFAULT_AFTER_SIGN_IN = '/broadcast';

/** The server answered 401: the operator is signed out (or never was). */
export class SignedOutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignedOutError';
  }
}

/** The JSON `{error}` of an answer, else a plain description of its status. */
export async function errorText(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: unknown };
    if (typeof body.error === 'string' && body.error) return body.error;
  } catch {
    /* not JSON */
  }
  return `the server answered ${res.status}`;
}

/** GET /api/session. A server without the route (older) has no operator sign-in: everything is open. */
export async function fetchSession(): Promise<Session> {
  const res = await fetch('/api/session', { cache: 'no-store', credentials: 'same-origin' });
  if (res.status === 404) {
    await res.text().catch(() => ''); // read to the end: an unread body keeps the request open
    return { signedIn: false, auth: 'open' };
  }
  if (!res.ok) throw new Error(`Could not check the sign-in: ${await errorText(res)}`);
  const body = (await res.json()) as Partial<Session>;
  return { signedIn: body.signedIn === true, auth: body.auth === 'open' ? 'open' : 'token' };
}

/** Seconds from a Retry-After header (delta-seconds only; dates are not worth parsing here). */
export function retryAfterSeconds(header: string | null): number | undefined {
  if (!header || !/^\s*\d{1,6}\s*$/.test(header)) return undefined;
  return Number(header.trim());
}

/** POST /api/session `{token}`: the server answers 204 with the session cookie. */
export async function signIn(token: string): Promise<SignInResult> {
  let res: Response;
  try {
    res = await fetch('/api/session', {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token }),
    });
  } catch (err) {
    return { ok: false, error: `Could not reach the server: ${(err as Error).message}` };
  }
  if (res.ok) return { ok: true };
  if (res.status === 401) return { ok: false, error: `That token is not right (${await errorText(res)}).` };
  if (res.status === 429) {
    const wait = retryAfterSeconds(res.headers.get('Retry-After'));
    return {
      ok: false,
      error: `Too many wrong tokens from this address: try again ${wait !== undefined ? `in ${wait} s` : 'later'}.`,
      retryAfterSeconds: wait,
    };
  }
  return { ok: false, error: `Could not sign in: ${await errorText(res)}` };
}

/** DELETE /api/session: the server clears the cookie. */
export async function signOut(): Promise<void> {
  const res = await fetch('/api/session', { method: 'DELETE', credentials: 'same-origin', cache: 'no-store' });
  if (!res.ok && res.status !== 401) throw new Error(`Could not sign out: ${await errorText(res)}`);
}

/** The token from a sign-in link's fragment (`#token=...`), or null. */
export function tokenFromHash(hash: string): string | null {
  const raw = hash.startsWith('#') ? hash.slice(1) : hash;
  if (!raw) return null;
  const token = new URLSearchParams(raw).get('token');
  return token ? token : null;
}

/**
 * Where to go after signing in: `next` when it is a path on this site (starts with one `/`, stays on `origin`),
 * else /broadcast. Never another site: `//evil.example`, `/\evil.example`, `https://…`, `javascript:…` are refused.
 */
export function safeNext(next: string | null, origin: string): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return DEFAULT_AFTER_SIGN_IN;
  // Browsers ignore tabs and newlines inside URLs ("/\t/evil.example" is "//evil.example").
  if ([...next].some((c) => c <= ' ' || c === '\u007f' || c === '\\')) return DEFAULT_AFTER_SIGN_IN;
  let url: URL;
  try {
    url = new URL(next, origin);
  } catch {
    return DEFAULT_AFTER_SIGN_IN;
  }
  if (url.origin !== new URL(origin).origin) return DEFAULT_AFTER_SIGN_IN;
  if (url.pathname === '/signin') return DEFAULT_AFTER_SIGN_IN;
  return `${url.pathname}${url.search}${url.hash}`;
}
