/**
 * A browser-ingest client without a browser: a real WebSocket to `/ingest` that answers the server's pings (as the
 * broadcast page does) and collects the JSON messages and the close code.
 */
import WebSocket from 'ws';

export interface IngestClient {
  ws: WebSocket;
  messages: Array<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves true when the socket opened, false when it failed to (refused upgrade). */
  opened: Promise<boolean>;
}

export interface IngestClientOptions {
  /** Added to the clock the client reports in its pongs (a browser whose clock is off). */
  clockSkewMs?: number;
  /** wss://: trust this CA (a test CA). */
  ca?: Buffer;
  /** The Origin header a page would send (none: a non-browser client). */
  origin?: string;
}

/** Connects to `<httpBase>/ingest` (http:// or https://); never throws, see `opened`. */
export function connectIngest(httpBase: string, opts: IngestClientOptions = {}): IngestClient {
  const ws = new WebSocket(`${httpBase.replace(/^http/, 'ws')}/ingest`, { ca: opts.ca, headers: opts.origin ? { Origin: opts.origin } : undefined });
  const messages: Array<Record<string, unknown>> = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const msg = JSON.parse(data.toString()) as Record<string, unknown>;
    messages.push(msg);
    if (msg.type === 'ping' && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'pong', serverTime: msg.serverTime, clientTime: Date.now() + (opts.clockSkewMs ?? 0) }));
    }
  });
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const opened = new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('close', () => resolve(false));
  });
  return { ws, messages, closed, opened };
}

/** As `connectIngest`, resolved once open; rejects when the upgrade is refused. */
export async function openIngest(httpBase: string, opts: IngestClientOptions = {}): Promise<IngestClient> {
  const c = connectIngest(httpBase, opts);
  if (!(await c.opened)) throw new Error(`the /ingest WebSocket at ${httpBase} did not open`);
  return c;
}
