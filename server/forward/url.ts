/**
 * Forward target URLs, as platforms give them: `rtmp://host[:port]/app/KEY` or `rtmps://…`, the stream key being the
 * last path part (`rtmp://a.rtmp.youtube.com/live2/xxxx-xxxx`, `rtmps://live-api-s.facebook.com:443/rtmp/FB-…?s_bl=1`,
 * `rtmp://live.twitch.tv/app/live_…`). The key is a secret: `maskUrl` is what the API shows and the log writes.
 */
import net from 'node:net';

export const MAX_FORWARD_URL_LENGTH = 2048;

export interface ForwardUrl {
  secure: boolean;
  host: string;
  port: number;
  /** Everything between the host and the key, without slashes at either end. */
  app: string;
  /** The last path part, with any `?query` (it belongs to the key for platforms such as Facebook). */
  key: string;
  /** `rtmp[s]://host[:port]/app` as sent in connect. */
  tcUrl: string;
}

export class ForwardUrlError extends Error {
  override name = 'ForwardUrlError';
}

// Host: a name, an IPv4 address or a bracketed IPv6 address. Path parts: printable, no spaces.
const URL_RE = /^(rtmps?):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/([^?#]*?)\/?([^/?#]+(?:\?[^#]*)?)$/;
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
// eslint-disable-next-line no-control-regex
const BAD_CHARS = /[\u0000-\u0020\u007f-\u00a0\\]/;

/** Parse a target URL, or throw ForwardUrlError saying what is wrong (never quoting the key). */
export function parseForwardUrl(raw: string): ForwardUrl {
  if (typeof raw !== 'string' || raw.length === 0) throw new ForwardUrlError('url is empty');
  if (raw.length > MAX_FORWARD_URL_LENGTH) throw new ForwardUrlError(`url is longer than ${MAX_FORWARD_URL_LENGTH} characters`);
  if (BAD_CHARS.test(raw)) throw new ForwardUrlError('url contains spaces, control characters or backslashes');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(raw)?.[1]?.toLowerCase();
  if (scheme !== 'rtmp' && scheme !== 'rtmps') throw new ForwardUrlError('url must start with rtmp:// or rtmps://');
  const m = URL_RE.exec(`${scheme}${raw.slice(scheme.length)}`);
  if (!m) throw new ForwardUrlError('url must be rtmp[s]://host[:port]/app/KEY (the stream key as the last path part)');
  const [, , hostPart, portPart, appPart, key] = m;
  const host = hostPart.startsWith('[') ? hostPart.slice(1, -1) : hostPart;
  if (hostPart.startsWith('[') ? net.isIPv6(host) === false : !(net.isIPv4(host) || HOSTNAME_RE.test(host))) {
    throw new ForwardUrlError('url has an invalid host');
  }
  const secure = scheme === 'rtmps';
  const port = portPart ? Number(portPart) : secure ? 443 : 1935;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ForwardUrlError('url has an invalid port');
  const app = appPart.replace(/^\/+|\/+$/g, '');
  if (!app || app.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new ForwardUrlError('url needs an application before the key: rtmp[s]://host/app/KEY');
  }
  if (key.startsWith('?')) throw new ForwardUrlError('url needs a stream key as its last path part');
  const shownHost = hostPart;
  return { secure, host, port, app, key, tcUrl: `${scheme}://${shownHost}${portPart ? `:${port}` : ''}/${app}` };
}

/** The URL with its key hidden: what the API answers and the log writes. */
export function maskUrl(u: ForwardUrl): string {
  return `${u.tcUrl}/${maskKey(u.key)}`;
}

/** A key as shown after saving: its last 4 characters when it is long enough to keep the rest secret, else nothing. */
export function maskKey(key: string): string {
  const bare = key.split('?')[0];
  return bare.length >= 16 ? `••••${bare.slice(-4)}` : '••••';
}

/** The masked form of a stored URL, or a placeholder when it no longer parses. */
export function maskRawUrl(raw: string): string {
  try {
    return maskUrl(parseForwardUrl(raw));
  } catch {
    return '(invalid url)';
  }
}
