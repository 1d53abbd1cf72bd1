/**
 * The HTTP front door: it sees every connection Node's `http` server accepts, before Node's own request parser does.
 *
 * LL-HLS viewers make most of the server's requests (an hls.js viewer: a blocking playlist reload and a part fetch
 * five times a second), and every viewer gets the same bytes. Node's `http` server costs ~35 µs per request on top of
 * the socket write (IncomingMessage, ServerResponse, header objects, 'finish' bookkeeping), which is what kept 1000
 * hls.js viewers on one core above 100 ms at p99 (docs/BENCHMARKS.md). So the front door parses the requests it can
 * answer cheaply itself — HTTP/1.1 GET, HEAD or OPTIONS, no body, a path a fast route takes (/hls/...) — and writes
 * their responses on the raw socket: a status line and headers serialised once per header list (per part, per
 * rendered playlist), a Date line shared for a second, the body as it is.
 *
 * Anything else is not parsed here: at the first request of a connection that is not a fast one (a page, the API,
 * a WebSocket upgrade, a request with a body, HTTP/1.0, anything unusual), the connection — with the bytes of that
 * request put back — goes to Node's `http` server's own connection handler for good, which then handles it exactly
 * as if the front door were not there (timeouts, limits, keep-alive, upgrades, errors).
 * So the front door never has to judge a request it does not fully understand; Node's parser gives the errors.
 *
 * Per connection, one request is answered at a time, in order (a blocked LL-HLS request holds the connection, as it
 * does in Node); pipelined requests wait in a bounded buffer, and reading stops while the client does not take what
 * was written. An idle connection (or one whose request head does not complete) is closed after a timeout.
 */
import { STATUS_CODES, type Server as HttpServer } from 'node:http';
import type net from 'node:net';
import type { TrustProxy } from './trust-proxy';

/** The response side of a fast request. The LL-HLS service's `HlsReply` has this shape. */
export interface FastReply {
  /** Send the whole response. The same headers should come as the same array object (serialised once, cached). */
  send(status: number, head: readonly string[], body: Buffer | readonly Buffer[], headOnly: boolean): void;
  readonly gone: boolean;
  destroy(): void;
  viewerKey(): string;
  /** The client's address. */
  address(): string;
  /** The connection, as an identity. */
  connection(): object;
}

/**
 * A fast route: answer the request (its request target as sent: path and query) through `reply`, now or later, and
 * return true; or return false, before sending anything, to leave it and the connection to Node's `http` server.
 */
export type FastRoute = (method: string, target: string, reply: FastReply) => boolean;

export interface FrontOptions {
  /** Node's server: it listens; the front door takes its connections first and hands it what it does not answer. */
  http: HttpServer;
  /** Paths (request targets) starting with this prefix are offered to `route`. */
  prefix: string;
  route: FastRoute;
  /** Close an idle keep-alive connection after this long, ms (Node's `keepAliveTimeout` is 5 s). */
  idleTimeoutMs?: number;
  /** Longest a request head may take to arrive, ms. */
  headTimeoutMs?: number;
  /**
   * Open connections per client address (all of them, also those handed to Node): a new one beyond it gets a 503
   * with Retry-After and is closed, before anything it sent is read.
   */
  maxConnectionsPerAddress?: number;
  log?: { warn(obj: object, msg: string): void };
  /**
   * The server's event that hands over a connection to read HTTP from: 'connection' for `http`, 'secureConnection'
   * for `https` (the TLS socket, after the handshake; server/tls/guard.ts caps the TCP connections before it).
   */
  connectionEvent?: 'connection' | 'secureConnection';
  /**
   * TRUST_PROXY: a trusted peer's requests are its X-Forwarded-For client's (`address()`, `viewerKey()`), and its
   * connections are not held to `maxConnectionsPerAddress` (a proxy carries many clients).
   */
  trust?: TrustProxy;
}

/** Longest request head (request line and headers) read here: Node's default `maxHeaderSize` is 16 KiB. */
export const MAX_HEAD = 16 * 1024;
/** Most unparsed bytes held while a request is being answered (pipelining); reading pauses beyond it. */
const MAX_PENDING = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');
/** The answer to a connection over its address's limit. */
const TOO_MANY = Buffer.from(
  'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 40\r\nConnection: close\r\n\r\ntoo many connections from this address\r\n',
  'latin1',
);
/** How long a refused connection may take to get its answer before it is cut, ms. */
const REFUSED_LINGER_MS = 2000;

export class HttpFront {
  private readonly conns = new Set<FrontConnection>();
  readonly idleTimeoutMs: number;
  readonly headTimeoutMs: number;
  /** Connections handed to Node's server, requests answered here, connections refused (for tests). */
  readonly counts = { handedOff: 0, requests: 0, refused: 0 };
  readonly maxConnectionsPerAddress: number;
  /** Open connections per client address (front door's and Node's); an entry only while above zero. */
  private readonly perAddress = new Map<string, number>();
  /** Node's own 'connection' listeners (its HTTP connection handler), called for a connection handed off. */
  private readonly nodeListeners: Array<(socket: net.Socket) => void>;

  constructor(readonly options: FrontOptions) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 5000;
    this.headTimeoutMs = options.headTimeoutMs ?? 10_000;
    this.maxConnectionsPerAddress = options.maxConnectionsPerAddress ?? Infinity;
    const http = options.http;
    const event = options.connectionEvent ?? 'connection';
    this.nodeListeners = http.listeners(event) as Array<(socket: net.Socket) => void>;
    if (this.nodeListeners.length === 0) throw new Error('the HTTP server has no connection handler to hand connections to');
    http.removeAllListeners(event);
    http.on(event, (socket: net.Socket) => this.accept(socket));
  }

  private accept(socket: net.Socket): void {
    const addr = socket.remoteAddress ?? '';
    const trusted = this.options.trust?.trusts(addr) ?? false;
    if (trusted) {
      socket.setNoDelay(true);
      this.conns.add(new FrontConnection(this, socket, true));
      return;
    }
    const open = this.perAddress.get(addr) ?? 0;
    if (open >= this.maxConnectionsPerAddress) {
      this.refuse(socket);
      return;
    }
    this.perAddress.set(addr, open + 1);
    socket.once('close', () => {
      const n = (this.perAddress.get(addr) ?? 1) - 1;
      if (n > 0) this.perAddress.set(addr, n);
      else this.perAddress.delete(addr);
    });
    socket.setNoDelay(true);
    this.conns.add(new FrontConnection(this, socket, false));
  }

  /** Over its address's limit: a 503, then closed (whatever it sends is discarded); cut if it does not go soon. */
  private refuse(socket: net.Socket): void {
    this.counts.refused++;
    socket.on('error', () => socket.destroy());
    socket.resume();
    socket.end(TOO_MANY);
    const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  /** Open connections from one address (for tests). */
  connectionsFrom(addr: string): number {
    return this.perAddress.get(addr) ?? 0;
  }

  /** @internal A connection leaves the front door: closed, or handed to Node (`handOff`). */
  forget(conn: FrontConnection, handOff: net.Socket | null): void {
    if (!this.conns.delete(conn) || !handOff) return;
    this.counts.handedOff++;
    for (const l of this.nodeListeners) l.call(this.options.http, handOff);
  }

  /** Close every connection the front door still holds (Node's own: `closeAllConnections()`). */
  closeAll(): void {
    for (const c of this.conns) c.socket.destroy();
    this.conns.clear();
  }
}

// ---- responses -----------------------------------------------------------------------------------------------------

/** Serialised status line and headers, up to (not including) the Date line, per header list (fast routes reuse lists). */
const headCache = new WeakMap<readonly string[], { status: number; bytes: Buffer }>();

function serializeHead(status: number, head: readonly string[]): Buffer {
  const cached = headCache.get(head);
  if (cached && cached.status === status) return cached.bytes;
  let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  for (let i = 0; i + 1 < head.length; i += 2) {
    const name = head[i];
    const value = head[i + 1];
    // Header lists come from our own code; a CR or LF in one would split the response.
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`invalid response header ${JSON.stringify(name)}`);
    text += `${name}: ${value}\r\n`;
  }
  const bytes = Buffer.from(text, 'latin1');
  // Lists made per response (error answers) are not worth a cache entry.
  if (status === 200 || status === 204) headCache.set(head, { status, bytes });
  return bytes;
}

/** The Date line and the end of the head, rebuilt once a second (RFC 9110 6.6.1: an origin server sends Date). */
let dateUntil = 0;
let dateEnd = Buffer.alloc(0);
let dateEndClose = Buffer.alloc(0);

function dateLine(close: boolean): Buffer {
  const now = Date.now();
  if (now >= dateUntil) {
    dateUntil = now - (now % 1000) + 1000;
    const date = new Date(now).toUTCString();
    dateEnd = Buffer.from(`Date: ${date}\r\n\r\n`, 'latin1');
    dateEndClose = Buffer.from(`Date: ${date}\r\nConnection: close\r\n\r\n`, 'latin1');
  }
  return close ? dateEndClose : dateEnd;
}

/**
 * Whole 200 responses (head, Date line, body) in one buffer, per body: every viewer of a part or of a rendered playlist
 * gets the same bytes, so each response is a single write (no writev of three pieces). Rebuilt when the Date line
 * changes (once a second); an entry goes when its body does. Built from a body's second response on: a body asked
 * for once (each part when nginx caches in front, one viewer) is written as three pieces instead of being copied
 * whole, its allocation and page faults included (issue #18, docs/BENCHMARKS.md).
 */
const joined = new WeakMap<Buffer, { head: readonly string[]; date: Buffer; bytes: Buffer | null }>();

/** The joined response for `body`, or null the first time `body` is answered (write it in pieces then). */
function joinedResponse(head: readonly string[], body: Buffer): Buffer | null {
  const date = dateLine(false);
  const j = joined.get(body);
  if (!j) {
    joined.set(body, { head, date, bytes: null });
    return null;
  }
  if (j.bytes === null || j.head !== head || j.date !== date) {
    j.head = head;
    j.date = date;
    j.bytes = Buffer.concat([serializeHead(200, head), date, body]);
  }
  return j.bytes;
}

// ---- one connection ------------------------------------------------------------------------------------------------

/** What the request head says, for the checks below (names compared in lower case). */
interface Head {
  method: string;
  target: string;
  host: boolean;
  close: boolean;
  /** A header that makes the request Node's business: a body, an upgrade, Expect, a folded line. */
  unusual: boolean;
  userAgent: string;
  /** X-Forwarded-For, several joined with ','; '' without. */
  forwardedFor: string;
}

/** Parse a request head (without its final CRLF CRLF); null if the request line is not `METHOD SP target SP HTTP/1.1`. */
export function parseHead(text: string): Head | null {
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  const line = text.slice(0, eol);
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0 || line.slice(sp2 + 1) !== 'HTTP/1.1') return null;
  const h: Head = { method: line.slice(0, sp1), target: line.slice(sp1 + 1, sp2), host: false, close: false, unusual: false, userAgent: '', forwardedFor: '' };
  let at = eol + 2;
  while (at < text.length) {
    let end = text.indexOf('\r\n', at);
    if (end < 0) end = text.length;
    const colon = text.indexOf(':', at);
    const first = text.charCodeAt(at);
    if (colon < 0 || colon > end || colon === at || first === 32 || first === 9) {
      h.unusual = true; // no name, or an obsolete folded line: Node's parser decides
      return h;
    }
    const name = text.slice(at, colon).toLowerCase();
    const value = text.slice(colon + 1, end).trim();
    switch (name) {
      case 'host':
        h.host = true;
        break;
      case 'connection':
        if (/(?:^|,)\s*close\s*(?:,|$)/i.test(value)) h.close = true;
        if (/upgrade/i.test(value)) h.unusual = true;
        break;
      case 'user-agent':
        h.userAgent = value;
        break;
      case 'x-forwarded-for':
        h.forwardedFor = h.forwardedFor ? `${h.forwardedFor},${value}` : value;
        break;
      case 'content-length':
        if (value !== '0') h.unusual = true;
        break;
      case 'transfer-encoding':
      case 'upgrade':
      case 'expect':
        h.unusual = true;
        break;
      default:
        if (name.includes(' ') || name.includes('\t')) h.unusual = true;
    }
    at = end + 2;
  }
  return h;
}

class FrontConnection implements FastReply {
  /** Bytes read and not parsed yet. */
  private pending: Buffer | null = null;
  /** A request is being answered (its response is owed). */
  private busy = false;
  private headOnly = false;
  private closeAfter = false;
  /** Reading is paused: the client is not taking what we wrote, or sends too much ahead. */
  private paused = false;
  private processing = false;
  /** The client will send nothing more. */
  private clientEnded = false;
  /** When the head of the request in `pending` started to arrive (performance.now()). */
  private headSince = 0;
  gone = false;
  private ua = '';
  private key = '';
  /** The request's X-Forwarded-For (a trusted peer's only) and the client address it names. */
  private xff = '';
  private client: string;
  private readonly onData = (d: Buffer) => this.data(d);
  private readonly onDrain = () => this.drained();
  private readonly onTimeout = () => this.timedOut();
  private readonly onEnd = () => this.ended();

  constructor(
    private readonly front: HttpFront,
    readonly socket: net.Socket,
    private readonly trusted: boolean,
  ) {
    this.client = socket.remoteAddress ?? '';
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.gone = true;
      this.front.forget(this, null);
    });
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('timeout', this.onTimeout);
    socket.on('end', this.onEnd);
    socket.setTimeout(front.idleTimeoutMs);
  }

  /**
   * The client sent FIN (Node's HTTP server allows half-open sockets): answer what it asked for — a held request,
   * complete pipelined ones — then close. An incomplete request is dropped.
   */
  private ended(): void {
    this.clientEnded = true;
    if (!this.busy) this.process();
  }

  /** After the client's FIN, with nothing left to answer: close our side too. */
  private endIfDone(): void {
    if (!this.clientEnded || this.busy || this.paused || this.gone) return;
    this.gone = true;
    this.socket.end();
  }

  private data(d: Buffer): void {
    if (this.pending === null) {
      this.pending = d;
      this.headSince = performance.now();
    } else this.pending = Buffer.concat([this.pending, d]);
    if (this.busy) {
      if (this.pending.length > MAX_PENDING) this.pause();
      return;
    }
    this.process();
  }

  /** Parse and answer what is pending, one request at a time. */
  private process(): void {
    if (this.processing) return; // a response sent synchronously from inside the loop below: it continues
    this.processing = true;
    try {
      while (!this.busy && !this.paused && !this.gone && this.pending !== null) {
        const buf = this.pending;
        const end = buf.indexOf(CRLFCRLF);
        if (end < 0) {
          if (buf.length > MAX_HEAD) this.handOff(); // Node answers 431
          else if (performance.now() - this.headSince > this.front.headTimeoutMs) this.abort();
          return;
        }
        const h = end <= MAX_HEAD ? parseHead(buf.toString('latin1', 0, end)) : null;
        const prefix = this.front.options.prefix;
        if (!h || h.unusual || !h.host || !h.target.startsWith(prefix) || (h.method !== 'GET' && h.method !== 'HEAD' && h.method !== 'OPTIONS')) {
          this.handOff();
          return;
        }
        if (h.userAgent !== this.ua) {
          this.ua = h.userAgent;
          this.key = '';
        }
        if (this.trusted && h.forwardedFor !== this.xff) {
          this.xff = h.forwardedFor;
          this.client = this.front.options.trust!.client(this.socket.remoteAddress, h.forwardedFor);
          this.key = '';
        }
        this.busy = true;
        this.headOnly = h.method === 'HEAD';
        const rest = end + 4 < buf.length ? buf.subarray(end + 4) : null;
        // The last request before the client's FIN is answered, then the connection closes.
        this.closeAfter = h.close || (this.clientEnded && rest === null);
        let taken: boolean;
        try {
          taken = this.front.options.route(h.method, h.target, this);
        } catch (err) {
          this.front.options.log?.warn({ err, target: h.target }, 'fast HTTP route failed');
          this.socket.destroy();
          return;
        }
        if (!taken) {
          this.busy = false;
          this.handOff();
          return;
        }
        this.front.counts.requests++;
        this.pending = rest;
        if (rest) this.headSince = performance.now();
      }
    } finally {
      this.processing = false;
      this.endIfDone();
    }
  }

  // FastReply
  send(status: number, head: readonly string[], body: Buffer | readonly Buffer[], headOnly: boolean): void {
    if (!this.busy) throw new Error('no request to answer');
    this.busy = false;
    if (this.gone) return;
    const socket = this.socket;
    const close = this.closeAfter;
    const withBody = !headOnly && !this.headOnly && status !== 204 && status !== 304;
    const whole = status === 200 && withBody && !close && Buffer.isBuffer(body) ? joinedResponse(head, body) : null;
    if (whole !== null) socket.write(whole);
    else {
      socket.cork();
      socket.write(serializeHead(status, head));
      socket.write(dateLine(close));
      if (withBody) {
        if (Buffer.isBuffer(body)) {
          if (body.length) socket.write(body);
        } else for (const b of body) socket.write(b);
      }
      socket.uncork();
    }
    if (close) {
      this.gone = true;
      socket.end();
      return;
    }
    if (socket.writableNeedDrain) this.pause();
    else if (this.pending !== null) this.process();
    else this.endIfDone();
  }

  destroy(): void {
    this.gone = true;
    this.socket.destroy();
  }

  viewerKey(): string {
    if (!this.key) this.key = `${this.client}|${this.ua.slice(0, 200)}`;
    return this.key;
  }

  address(): string {
    return this.client;
  }

  connection(): object {
    return this;
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private drained(): void {
    if (!this.paused || this.gone) return;
    this.paused = false;
    this.socket.resume();
    if (!this.busy && this.pending !== null) this.process();
  }

  private timedOut(): void {
    // A held request (LL-HLS blocking reload) has its own, bounded deadline; its answer restarts the timer.
    if (this.busy) return;
    this.abort();
  }

  private abort(): void {
    this.gone = true;
    this.socket.destroy();
  }

  /** From this request on, the connection is Node's: put the unparsed bytes back and let its server take it. */
  private handOff(): void {
    const socket = this.socket;
    socket.removeListener('data', this.onData);
    socket.removeListener('drain', this.onDrain);
    socket.removeListener('timeout', this.onTimeout);
    socket.removeListener('end', this.onEnd);
    socket.setTimeout(0);
    socket.pause();
    if (this.pending) socket.unshift(this.pending);
    this.pending = null;
    this.gone = true; // for the front door
    this.front.forget(this, socket);
    // Node's server reads from here on (the bytes put back first).
    process.nextTick(() => socket.resume());
  }
}
