/**
 * The RTMP listener: sockets, handshake, limits and timeouts around RtmpSession.
 * Whatever a client sends, the worst it can do is get its own socket closed.
 */
import net from 'node:net';
import type { AssemblyBudget } from './chunk';
import { RtmpProtocolError } from './errors';
import { ServerHandshake } from './handshake';
import { peerText } from './peer-text';
import { RtmpSession, SESSION_DEFAULTS, type Decision, type SessionHooks } from './session';
import { READ_BUFFER_SIZE, startReading } from './socket-read';

export interface RtmpLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RtmpServerOptions {
  /**
   * Connections at once from outside; our own connections (those accepted on `internalNetServer`, where the
   * browser-ingest ffmpeg connects, or from `internal` addresses) are counted apart, with a cap of their own of the
   * same number, so that no outside client can take their slots. When the outside pool is full, a connection that
   * has not yet published or played is closed to make room: the oldest one of the address holding the most such
   * connections, if that address holds more connections than the newcomer's (one address cannot keep the others
   * out); else the oldest of all, if it has had 2 s to publish or play. If there is none, the new one is refused.
   */
  maxConnections: number;
  /** Of `maxConnections`, this many can only be publishers: players are refused (onStatus error) beyond the rest. */
  reservedPublisherConnections: number;
  /** Connections at once from one outside address (0: no limit); more are closed at accept. */
  maxConnectionsPerAddress: number;
  /**
   * Addresses counted apart from the outside pool on the public listener too (default: none; a loopback client of
   * the public port is an outside client like any other, since a proxy or a local attacker may stand behind it).
   */
  internal: (address: string) => boolean;
  /**
   * Deadline of the handshake, from accept (0: none): a client that trickles bytes does not hold its slot longer.
   * Like the other timeouts, checked by a coarse sweep: the close comes up to a quarter of the shortest timeout late.
   */
  handshakeTimeoutMs: number;
  /** Deadline from the end of the handshake to the first accepted publish or play (0: none); onStatus error, close. */
  publishPlayTimeoutMs: number;
  /**
   * A connection that is not playing and sends nothing for this long is closed, and so is any connection with bytes
   * waiting to be sent of which it has taken none for this long (a player that does not read) (0: never).
   */
  idleTimeoutMs: number;
  maxMessageSize: number;
  maxChunkStreams: number;
  /**
   * Before a connection may publish or play: most bytes it may hold in incomplete messages plus replies it has not
   * taken (its connection is closed beyond that).
   */
  maxBufferBeforeAuth: number;
  /** After: most bytes of incomplete messages per connection (a protocol error beyond that). */
  maxBufferPerConnection: number;
  /** Incomplete messages of all connections together: the connection whose bytes would pass it is closed. */
  maxBufferTotal: number;
  /**
   * Reading from a connection stops while more than this many bytes wait to be sent to it, until they are (a client
   * that sends commands and does not read the replies cannot make them pile up).
   */
  readPauseBytes: number;
  /** onMetaData bigger than this (as sent, or with its AMF0 references expanded) is ignored. */
  maxMetadataBytes: number;
  /** Average messages a second a connection may send (bursts of 2 s worth); beyond: onStatus error, close. 0: no limit. */
  maxMessagesPerSecond: number;
  log: RtmpLog;
}

/** Counts of the listener, for /healthz and tests. */
export interface RtmpServerStats {
  connections: number;
  /** Of which from internal (loopback) addresses. */
  internal: number;
  /** Outside connections that have not yet published or played. */
  pending: number;
  players: number;
  publishers: number;
  /** Bytes held in incomplete messages, all connections. */
  assemblingBytes: number;
  /** Bytes written to sockets and not yet sent, all connections. */
  unsentBytes: number;
}

export interface RtmpConnection {
  readonly id: number;
  readonly remote: string;
  /** Accepted on the internal listener (our own ingest ffmpeg); undefined: outside. */
  readonly internal?: boolean;
  /** The client's address without its port. */
  readonly address?: string;
  readonly session: RtmpSession;
  /** Raw chunk stream bytes for the peer (e.g. one media encoding shared by many players). */
  write(bytes: Buffer): void;
  /** Run `fn`; whatever it writes to this connection goes to the socket in one write (writev). */
  corked(fn: () => void): void;
  /** Bytes queued on the socket and not yet sent. */
  bufferedBytes(): number;
  close(reason: string): void;
}

export type ConnectionHandler = Omit<SessionHooks, 'send' | 'close'> & {
  /** The connection is gone, for whatever reason. Called once. */
  closed(reason: string): void;
};

const noopLog: RtmpLog = { info() {}, warn() {}, debug() {}, error() {} };

/** Loopback: 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

export const RTMP_DEFAULTS: RtmpServerOptions = {
  maxConnections: 5000,
  reservedPublisherConnections: 50,
  maxConnectionsPerAddress: 64,
  internal: () => false,
  handshakeTimeoutMs: 10_000,
  publishPlayTimeoutMs: 15_000,
  idleTimeoutMs: 30_000,
  maxMessageSize: 8 * 1024 * 1024,
  maxChunkStreams: 64,
  maxBufferBeforeAuth: SESSION_DEFAULTS.maxAssemblyBytes,
  maxBufferPerConnection: SESSION_DEFAULTS.maxAssemblyBytesAuthorized,
  maxBufferTotal: 256 * 1024 * 1024,
  readPauseBytes: 1024 * 1024,
  maxMetadataBytes: SESSION_DEFAULTS.maxMetadataBytes,
  maxMessagesPerSecond: SESSION_DEFAULTS.maxMessagesPerSecond,
  log: noopLog,
};

/** A pending connection younger than this is not closed to make room for a new one. */
const EVICT_AFTER_MS = 2000;

let nextConnId = 1;

function corked(socket: net.Socket, fn: () => void): void {
  socket.cork();
  try {
    fn();
  } finally {
    socket.uncork();
  }
}

type Role = 'pending' | 'player' | 'publisher';

/** What the timeout sweep and the slot counts know of a connection. */
interface Tracked {
  /** The sweep count (RtmpServer.sweeps) at the connection's last read, or at its accept. */
  lastRead: number;
  /** Date.now() at accept. */
  readonly acceptedAt: number;
  readonly internal: boolean;
  readonly address: string;
  role: Role;
  /** Silent for at least `quietMs` (sweep resolution), at `now`: close it if that is too long for its state. */
  check(now: number, quietMs: number): void;
  /** Close it to make room (a pending connection, when the pool is full). */
  evict(): void;
}

export class RtmpServer {
  private readonly server: net.Server;
  private readonly internalServer: net.Server;
  private readonly sockets = new Map<net.Socket, Tracked>();
  /**
   * Every connection's reads land here (socket-read.ts), one read at a time: each is parsed before the next read
   * happens, and whatever is kept is copied (the chunk reader's `reusedInput`, a copy for the handshake).
   */
  private readonly readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  /**
   * Timeouts are checked by one sweep every `sweepMs` while there are connections, instead of socket.setTimeout,
   * which re-arms a timer on every read (publishers read ~165 times a second). A read only records the sweep count.
   */
  private readonly sweepMs: number;
  private sweeps = 0;
  private sweeper: ReturnType<typeof setInterval> | null = null;
  /** Outside connections by role, and per address; internal ones. */
  private outside = 0;
  /** Bytes of the connections no longer tracked (for stats()). */
  private readonly closedBytes = { read: 0, written: 0 };
  private insideCount = 0;
  private outsidePlayers = 0;
  private outsidePublishers = 0;
  private readonly perAddress = new Map<string, number>();
  /** Outside connections that have not yet published or played, oldest first; and the same by address. */
  private readonly pendingOrder = new Set<Tracked>();
  private readonly pendingByAddress = new Map<string, Set<Tracked>>();
  /** Incomplete messages of every connection (chunk.ts), against maxBufferTotal. */
  private readonly budget: AssemblyBudget;
  /** Refusals logged in the current second, by reason (a flood of refusals must not flood the log). */
  private refusalLog = { second: 0, counts: new Map<string, number>() };
  readonly options: RtmpServerOptions;

  constructor(
    options: Partial<RtmpServerOptions>,
    private readonly makeHandler: (conn: RtmpConnection) => ConnectionHandler,
  ) {
    this.options = { ...RTMP_DEFAULTS, ...options };
    this.budget = { used: 0, max: this.options.maxBufferTotal };
    const timeouts = [this.options.handshakeTimeoutMs, this.options.publishPlayTimeoutMs, this.options.idleTimeoutMs].filter(
      (t) => t > 0 && Number.isFinite(t),
    );
    this.sweepMs = timeouts.length ? Math.max(1, Math.floor(Math.min(...timeouts) / 4)) : 0;
    // Paused on accept: the socket is set up to read into readBuffer before its first read (socket-read.ts).
    this.server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket, false));
    this.server.on('error', (err) => this.options.log.error({ err }, 'RTMP listener error'));
    this.internalServer = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket, true));
    this.internalServer.on('error', (err) => this.options.log.error({ err }, 'internal RTMP listener error'));
  }

  /** Connections holding a slot (one being closed no longer does, though its socket may take a moment to go). */
  get connectionCount(): number {
    return this.outside + this.insideCount;
  }

  stats(): RtmpServerStats {
    let unsentBytes = 0;
    for (const s of this.sockets.keys()) unsentBytes += s.writableLength;
    return {
      connections: this.connectionCount,
      internal: this.insideCount,
      pending: this.pendingOrder.size,
      players: this.outsidePlayers,
      publishers: this.outsidePublishers,
      assemblingBytes: this.budget.used,
      unsentBytes,
    };
  }

  /** Bytes read from and written to RTMP sockets since the start (closed connections and open ones; for the metrics). */
  traffic(): { bytesRead: number; bytesWritten: number } {
    let bytesRead = this.closedBytes.read;
    let bytesWritten = this.closedBytes.written;
    for (const s of this.sockets.keys()) {
      bytesRead += s.bytesRead;
      bytesWritten += s.bytesWritten;
    }
    return { bytesRead, bytesWritten };
  }

  /** Logs a refusal, at most once a second per reason (with how many were not logged). */
  private logRefusal(reason: string, obj: object): void {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.refusalLog.second) this.refusalLog = { second, counts: new Map() };
    const n = (this.refusalLog.counts.get(reason) ?? 0) + 1;
    this.refusalLog.counts.set(reason, n);
    if (n === 1) this.options.log.warn(obj, `RTMP connection refused: ${reason}`);
  }

  /** May a new connection from `address` come in? Makes room by closing an old pending connection if it can. */
  private admit(address: string, internal: boolean, remote: string): boolean {
    const { maxConnections, maxConnectionsPerAddress } = this.options;
    if (internal) {
      if (this.insideCount < maxConnections) return true;
      this.logRefusal('too many loopback connections (RTMP_MAX_CONNECTIONS)', { remote, max: maxConnections });
      return false;
    }
    if (maxConnectionsPerAddress > 0 && (this.perAddress.get(address) ?? 0) >= maxConnectionsPerAddress) {
      this.logRefusal('too many connections from one address (RTMP_MAX_CONNECTIONS_PER_ADDRESS)', { remote, max: maxConnectionsPerAddress });
      return false;
    }
    if (this.outside < maxConnections) return true;
    const victim = this.heaviestPending(address) ?? this.oldestPendingIfOld();
    if (victim) {
      victim.evict();
      if (this.outside < maxConnections) return true;
    }
    this.logRefusal('too many connections (RTMP_MAX_CONNECTIONS)', { remote, max: maxConnections });
    return false;
  }

  /**
   * The oldest pending connection of the address with the most pending connections, if that address holds more
   * connections than `newcomer` does (whatever their age: fair shares first). Scans the addresses: only when full.
   */
  private heaviestPending(newcomer: string): Tracked | undefined {
    let heaviest: Set<Tracked> | undefined;
    for (const set of this.pendingByAddress.values()) if (!heaviest || set.size > heaviest.size) heaviest = set;
    if (!heaviest) return undefined;
    const oldest = heaviest.values().next().value as Tracked;
    if (oldest.address === newcomer || heaviest.size <= (this.perAddress.get(newcomer) ?? 0) + 1) return undefined;
    return oldest;
  }

  private oldestPendingIfOld(): Tracked | undefined {
    const oldest = this.pendingOrder.values().next();
    return !oldest.done && Date.now() - oldest.value.acceptedAt >= EVICT_AFTER_MS ? oldest.value : undefined;
  }

  private addPending(t: Tracked): void {
    this.pendingOrder.add(t);
    let set = this.pendingByAddress.get(t.address);
    if (!set) this.pendingByAddress.set(t.address, (set = new Set()));
    set.add(t);
  }

  private removePending(t: Tracked): void {
    this.pendingOrder.delete(t);
    const set = this.pendingByAddress.get(t.address);
    if (set?.delete(t) && set.size === 0) this.pendingByAddress.delete(t.address);
  }

  private count(t: Tracked, delta: 1 | -1): void {
    if (t.internal) {
      this.insideCount += delta;
      return;
    }
    this.outside += delta;
    const n = (this.perAddress.get(t.address) ?? 0) + delta;
    if (n > 0) this.perAddress.set(t.address, n);
    else this.perAddress.delete(t.address);
    if (t.role === 'player') this.outsidePlayers += delta;
    else if (t.role === 'publisher') this.outsidePublishers += delta;
    if (delta > 0 && t.role === 'pending') this.addPending(t);
    if (delta < 0) this.removePending(t);
  }

  /** A connection published or played for the first time. */
  private promote(t: Tracked, role: 'player' | 'publisher'): void {
    if (t.role !== 'pending') return;
    t.role = role;
    if (t.internal) return;
    this.removePending(t);
    if (role === 'player') this.outsidePlayers++;
    else this.outsidePublishers++;
  }

  /** Are the players' slots (all but the publishers' reserve) taken? */
  private playersFull(t: Tracked): boolean {
    if (t.internal || t.role !== 'pending') return false;
    const reserved = Math.min(this.options.reservedPublisherConnections, this.options.maxConnections - 1);
    return this.outsidePlayers >= this.options.maxConnections - reserved;
  }

  private track(socket: net.Socket, t: Tracked): void {
    this.sockets.set(socket, t);
    if (this.sweeper === null && this.sweepMs > 0) {
      this.sweeper = setInterval(() => this.sweep(), this.sweepMs);
      this.sweeper.unref();
    }
  }

  private untrack(socket: net.Socket): void {
    if (this.sockets.delete(socket)) {
      this.closedBytes.read += socket.bytesRead;
      this.closedBytes.written += socket.bytesWritten;
    }
    if (this.sockets.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  /**
   * A connection last read during the interval that ended with sweep `lastRead + 1` has been silent for at least
   * `sweeps - lastRead - 1` whole intervals, and at most one more: timeouts fire between their value and a sweep
   * interval later.
   */
  private sweep(): void {
    const n = ++this.sweeps;
    const now = Date.now();
    for (const t of [...this.sockets.values()]) t.check(now, Math.max(0, (n - t.lastRead - 1) * this.sweepMs));
  }

  /** The net.Server, for `listen()` by the caller. */
  get netServer(): net.Server {
    return this.server;
  }

  /**
   * A second net.Server for our own clients (the browser-ingest ffmpeg), for `listen()` on a loopback address by the
   * caller: its connections are internal (see `maxConnections`).
   */
  get internalNetServer(): net.Server {
    return this.internalServer;
  }

  /**
   * An outside connection another listener accepted: RTMPS hands over the TLS socket after its handshake. It is
   * handled (admitted, limited, timed) as one accepted on `netServer`.
   */
  acceptConnection(socket: net.Socket): void {
    this.accept(socket, false);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const s of this.sockets.keys()) s.destroy();
      let open = 2;
      const done = () => --open === 0 && resolve();
      this.server.close(done);
      this.internalServer.close(done);
    });
  }

  private accept(socket: net.Socket, ours: boolean): void {
    const { log } = this.options;
    const address = socket.remoteAddress ?? '?';
    const remote = `${address}:${socket.remotePort ?? '?'}`;
    socket.on('error', () => undefined); // reported through 'close'
    const internal = ours || this.options.internal(address);
    if (!this.admit(address, internal, remote)) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const id = nextConnId++;
    let closedReason: string | null = null;
    let handler: ConnectionHandler | null = null;
    let session: RtmpSession | null = null;
    let sessionAt = 0;
    const handshake = new ServerHandshake();
    /** Inside the processing of one read, and whether a write during it has corked the socket. */
    let inRead = false;
    let readCorked = false;
    /** Reading stopped until what waits to be sent has been (readPauseBytes). */
    let readPaused = false;
    /** Bytes the socket had sent (to the kernel) at the last sweep, and when that last changed or nothing waited. */
    let lastSent = 0;
    let lastProgressAt = Date.now();

    const finish = (reason: string, destroy: boolean) => {
      if (closedReason !== null) return;
      closedReason = reason;
      // Its slot is free at once (the socket may take a moment to close).
      this.count(tracked, -1);
      if (destroy) socket.destroy();
      else {
        socket.pause();
        socket.end();
        setTimeout(() => socket.destroy(), 2000).unref();
      }
      session?.dispose();
      if (handler) {
        try {
          handler.closed(reason);
        } catch (err) {
          log.error({ err, conn: id }, 'RTMP close handler failed');
        }
      }
    };

    // The replies to one read (handshake; connect, createStream, play ...) go out in one write: the first write while
    // a read is processed corks the socket, the end of the read uncorks it (most reads, media, write nothing).
    const send = (bytes: Buffer) => {
      if (inRead && !readCorked) {
        readCorked = true;
        socket.cork();
      }
      socket.write(bytes);
    };

    const conn: RtmpConnection = {
      id,
      remote,
      internal,
      address,
      get session() {
        if (!session) throw new Error('no session before the handshake');
        return session;
      },
      write: (bytes) => {
        if (closedReason === null && !socket.destroyed) send(bytes);
      },
      corked: (fn) => corked(socket, fn),
      bufferedBytes: () => socket.writableLength,
      close: (reason) => finish(reason, false),
    };

    const { handshakeTimeoutMs, publishPlayTimeoutMs, idleTimeoutMs } = this.options;
    const tracked: Tracked = {
      lastRead: this.sweeps,
      acceptedAt: Date.now(),
      internal,
      address,
      role: 'pending',
      check: (now, quietMs) => {
        if (closedReason !== null) return;
        if (!session) {
          if (handshakeTimeoutMs > 0 && now - tracked.acceptedAt >= handshakeTimeoutMs) {
            log.info({ conn: id, remote }, 'RTMP handshake not done in time, closed');
            finish('handshake timeout', true);
          }
          return;
        }
        // A connection that takes none of what waits for it (a player that does not read).
        const unsent = socket.writableLength;
        const sent = socket.bytesWritten - unsent;
        if (unsent === 0 || sent !== lastSent) {
          lastSent = sent;
          lastProgressAt = now;
        } else if (idleTimeoutMs > 0 && now - lastProgressAt >= idleTimeoutMs) {
          log.info({ conn: id, remote, unsent }, 'RTMP connection takes nothing of what is sent to it, closed');
          finish('not reading', true);
          return;
        }
        if (publishPlayTimeoutMs > 0 && !session.authorized && now - sessionAt >= publishPlayTimeoutMs) {
          log.info({ conn: id, remote }, 'RTMP connection neither published nor played in time, closed');
          session.closeWithStatus(
            'NetConnection.Connect.IdleTimeOut',
            `No publish or play within ${Math.round(publishPlayTimeoutMs / 1000)} s of connecting.`,
            'publish/play timeout',
          );
        } else if (idleTimeoutMs > 0 && quietMs >= idleTimeoutMs && !session.playing && !readPaused) {
          log.info({ conn: id, remote }, 'RTMP connection idle, closed');
          session.closeWithStatus('NetConnection.Connect.IdleTimeOut', `Nothing received for ${Math.round(idleTimeoutMs / 1000)} s.`, 'idle timeout');
        }
      },
      evict: () => {
        log.info({ conn: id, remote }, 'RTMP connection closed to make room: it had not published or played');
        if (session) session.closeWithStatus('NetConnection.Connect.Rejected', 'Server full.', 'evicted');
        if (closedReason === null) finish('evicted', true);
      },
    };
    this.track(socket, tracked);
    this.count(tracked, 1);

    const full = (): Decision => ({ ok: false, code: 'NetStream.Play.Failed', description: 'Server full: no more players at the moment.' });

    // `reused`: `data` is a view of the shared read buffer, overwritten by the next read; the handshake may keep what
    // it is given (an incomplete C0/C1) and gets a copy, the session's chunk reader copies what it keeps.
    const onRead = (data: Buffer, reused: boolean) => {
      if (closedReason !== null) return;
      tracked.lastRead = this.sweeps;
      inRead = true;
      try {
        if (!session) {
          const r = handshake.push(reused ? Buffer.from(data) : data);
          for (const out of r.output) send(out);
          if (!r.done) return;
          handler = this.makeHandler(conn);
          const h = handler;
          sessionAt = Date.now();
          session = new RtmpSession(
            {
              send: (bytes) => conn.write(bytes),
              close: (reason) => finish(reason, false),
              connect: (i) => h.connect(i),
              publish: (r) => {
                const d = h.publish(r);
                if (d instanceof Promise) {
                  return d.then((x) => {
                    if (x.ok && closedReason === null) this.promote(tracked, 'publisher');
                    return x;
                  });
                }
                if (d.ok) this.promote(tracked, 'publisher');
                return d;
              },
              play: (r) => {
                if (this.playersFull(tracked)) {
                  this.logRefusal('no more players (RTMP_MAX_CONNECTIONS - RTMP_RESERVED_PUBLISHER_CONNECTIONS)', { conn: id, remote });
                  return full();
                }
                const d = h.play(r);
                if (d.ok) this.promote(tracked, 'player');
                return d;
              },
              media: (m) => h.media(m),
              metadata: (m) => h.metadata(m),
              streamClosed: (sid, role) => h.streamClosed(sid, role),
            },
            {
              maxMessageSize: this.options.maxMessageSize,
              maxChunkStreams: this.options.maxChunkStreams,
              // In 'user-buffer' mode reads are views of the shared buffer (one that arrives as 'data' anyway would
              // only be copied needlessly).
              reusedInput: readMode === 'user-buffer',
              maxAssemblyBytes: this.options.maxBufferBeforeAuth,
              maxAssemblyBytesAuthorized: this.options.maxBufferPerConnection,
              budget: this.budget,
              maxMetadataBytes: this.options.maxMetadataBytes,
              maxMessagesPerSecond: this.options.maxMessagesPerSecond,
            },
          );
          if (r.rest.length) session.push(r.rest);
          return;
        }
        session.push(data);
      } catch (err) {
        if (err instanceof RtmpProtocolError) {
          log.info({ conn: id, remote, reason: peerText(err.message, 200) }, 'RTMP protocol error, connection closed');
          finish(`protocol error: ${peerText(err.message, 200)}`, true);
        } else {
          log.error({ conn: id, remote, err }, 'RTMP connection failed');
          finish(`internal error: ${peerText((err as Error)?.message, 200)}`, true);
        }
      } finally {
        inRead = false;
        if (readCorked) {
          readCorked = false;
          socket.uncork();
        }
        if (closedReason === null) afterRead();
      }
    };

    /** What waits to be sent bounds what is read: closed before publish/play, reading paused after. */
    const afterRead = () => {
      const unsent = socket.writableLength;
      if (session && !session.authorized) {
        const held = unsent + session.assemblingBytes;
        if (held > this.options.maxBufferBeforeAuth) {
          log.info({ conn: id, remote, held }, 'RTMP connection holds too much before publish/play (RTMP_MAX_BUFFER_BYTES_BEFORE_AUTH), closed');
          finish('too much buffered before publish/play', true);
        }
        return;
      }
      if (unsent > this.options.readPauseBytes && !readPaused) {
        readPaused = true;
        socket.pause();
        socket.once('drain', () => {
          readPaused = false;
          if (closedReason === null) socket.resume();
        });
      }
    };

    socket.on('close', () => {
      this.untrack(socket);
      finish('socket closed', true);
    });

    // Reads start after this returns (libuv, or the Readable's next tick), so onRead never sees readMode unset.
    const readMode = startReading(socket, this.readBuffer, onRead);
  }
}
