/**
 * HTTP_REDIRECT_PORT: plain HTTP that answers every request with a 301 to the same path over https (PUBLIC_URL's
 * origin when it is an https one, else the host the client asked for, on the HTTPS port). Nothing else is served
 * on it. A Host header that is not a plain host name or address (a path, userinfo, spaces, none at all) gets 400:
 * the Location is never built from anything but a checked host name and a checked path.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';

/** A host name (letters, digits, dots, hyphens, underscores), an IPv4 address, or an [IPv6] literal; optional :port. */
const HOST = /^(?:[a-z0-9_](?:[a-z0-9_.-]{0,252})|\[[0-9a-f:.]{2,45}\])(?::[0-9]{1,5})?$/i;
/** A request target we repeat in Location: origin-form of visible ASCII only. */
const PATH = /^\/[\x21-\x7e]{0,8191}$/;

export interface RedirectOptions {
  /** The HTTPS port (to put in Location when it is not 443). */
  httpsPort: () => number;
  /** PUBLIC_URL: when it is https, every redirect goes to its origin. */
  publicUrl: string | undefined;
  headTimeoutMs: number;
  maxConnections: number;
}

/** Where to send this request, or null when its Host is not usable. */
export function redirectLocation(hostHeader: string | undefined, target: string | undefined, opts: Pick<RedirectOptions, 'httpsPort' | 'publicUrl'>): string | null {
  const path = target && PATH.test(target) && !target.startsWith('//') ? target : '/';
  if (opts.publicUrl?.startsWith('https:')) return `${new URL(opts.publicUrl).origin}${path}`;
  if (!hostHeader || !HOST.test(hostHeader)) return null;
  const host = hostHeader.toLowerCase();
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  if (!name.startsWith('[') && (name.includes('..') || name.startsWith('.'))) return null;
  const port = opts.httpsPort();
  return `https://${name}${port === 443 ? '' : `:${port}`}${path}`;
}

export function createRedirectServer(opts: RedirectOptions): http.Server {
  const server = http.createServer({
    headersTimeout: opts.headTimeoutMs,
    requestTimeout: Math.max(30_000, opts.headTimeoutMs),
    connectionsCheckingInterval: 1000,
    keepAlive: false,
  });
  server.maxConnections = opts.maxConnections;
  server.keepAliveTimeout = 1000;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // More than one Host is a bad request (RFC 9112 3.2); Node would keep the first.
    let hosts = 0;
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i].toLowerCase() === 'host') hosts++;
    const host = hosts === 1 ? req.headers.host : undefined;
    const location = redirectLocation(host, req.url, opts);
    // The body is not read: the connection closes after the answer.
    res.shouldKeepAlive = false;
    if (!location) {
      const body = 'bad Host header: use https\n';
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
      res.end(body);
      return;
    }
    const body = `moved to ${location}\n`;
    res.writeHead(301, { Location: location, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', Connection: 'close' });
    res.end(body);
  });
  return server;
}
