/**
 * One call to the server's JSON API, signed in by the session cookie: same origin, JSON bodies with
 * `Content-Type: application/json` (the server refuses writes without it). No React here.
 */
import { SignedOutError, errorText } from './session';

/**
 * `method path [body]`: the answer's JSON (undefined for 204). Throws a SignedOutError on 401, else an Error with
 * the server's own `error` text (or a plain description of the status, or why the server could not be reached).
 */
export async function apiCall<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: body === undefined ? undefined : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(`Could not reach the server: ${(err as Error).message}`);
  }
  if (res.status === 401) throw new SignedOutError(await errorText(res));
  if (!res.ok) throw new ApiError(res.status, await errorText(res));
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** The server answered with an error status (not 401: that is a SignedOutError). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}
