/**
 * The RTMP listener: sockets, handshake, limits and timeouts around RtmpSession.
 * Whatever a client sends, the worst it can do is get its own socket closed.
 */
import net from 'node:net';
import { RtmpProtocolError } from './errors';
import { ServerHandshake } from './handshake';
import { RtmpSession, type SessionHooks } from './session';
import { READ_BUFFER_SIZE, startReading } from './socket-read';

export interface RtmpLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RtmpServerOptions {
  maxConnections: number;
  /**
   * A connection that sends nothing for this long before its handshake is done is closed (0: never). Like
   * idleTimeoutMs, checked by a coarse sweep: the close comes up to a quarter of the shorter timeout late.
   */
  handshakeTimeoutMs: number;
  /** A connection that is not playing and sends nothing for this long is closed (0: never). */
  idleTimeoutMs: number;
  maxMessageSize: number;
  maxChunkStreams: number;
  log: RtmpLog;
}

export interface RtmpConnection {
  readonly id: number;
  readonly remote: string;
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

export const RTMP_DEFAULTS: RtmpServerOptions = {
  maxConnections: 5000,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxMessageSize: 8 * 1024 * 1024,
  maxChunkStreams: 64,
  log: noopLog,
};

let nextConnId = 1;

function corked(socket: net.Socket, fn: () => void): void {
  socket.cork();
  try {
    fn();
  } finally {
    socket.uncork();
  }
}

/** What the timeout sweep knows of a connection. */
interface Tracked {
  /** The sweep count (RtmpServer.sweeps) at the connection's last read, or at its accept. */
  lastRead: number;
  /** The connection has been silent for at least `quietMs`: close it if that is too long for its state. */
  quiet(quietMs: number): void;
}

export class RtmpServer {
  private readonly server: net.Server;
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
  readonly options: RtmpServerOptions;

  constructor(
    options: Partial<RtmpServerOptions>,
    private readonly makeHandler: (conn: RtmpConnection) => ConnectionHandler,
  ) {
    this.options = { ...RTMP_DEFAULTS, ...options };
    const timeouts = [this.options.handshakeTimeoutMs, this.options.idleTimeoutMs].filter((t) => t > 0 && Number.isFinite(t));
    this.sweepMs = timeouts.length ? Math.max(1, Math.floor(Math.min(...timeouts) / 4)) : 0;
    // Paused on accept: the socket is set up to read into readBuffer before its first read (socket-read.ts).
    this.server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.options.log.error({ err }, 'RTMP listener error'));
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  private track(socket: net.Socket, t: Tracked): void {
    this.sockets.set(socket, t);
    if (this.sweeper === null && this.sweepMs > 0) {
      this.sweeper = setInterval(() => this.sweep(), this.sweepMs);
      this.sweeper.unref();
    }
  }

  private untrack(socket: net.Socket): void {
    this.sockets.delete(socket);
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
    const now = ++this.sweeps;
    for (const t of this.sockets.values()) {
      const quietMs = (now - t.lastRead - 1) * this.sweepMs;
      if (quietMs > 0) t.quiet(quietMs);
    }
  }

  /** The net.Server, for `listen()` by the caller. */
  get netServer(): net.Server {
    return this.server;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const s of this.sockets.keys()) s.destroy();
      this.server.close(() => resolve());
    });
  }

  private accept(socket: net.Socket): void {
    const { log } = this.options;
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.on('error', () => undefined); // reported through 'close'
    if (this.sockets.size >= this.options.maxConnections) {
      log.warn({ remote, max: this.options.maxConnections }, 'RTMP connection refused: too many connections (RTMP_MAX_CONNECTIONS)');
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const id = nextConnId++;
    let closedReason: string | null = null;
    let handler: ConnectionHandler | null = null;
    let session: RtmpSession | null = null;
    const handshake = new ServerHandshake();
    /** Inside the processing of one read, and whether a write during it has corked the socket. */
    let inRead = false;
    let readCorked = false;

    const finish = (reason: string, destroy: boolean) => {
      if (closedReason !== null) return;
      closedReason = reason;
      if (destroy) socket.destroy();
      else {
        socket.pause();
        socket.end();
        setTimeout(() => socket.destroy(), 2000).unref();
      }
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

    const handshakeTimeoutMs = this.options.handshakeTimeoutMs;
    const idleTimeoutMs = this.options.idleTimeoutMs;
    const tracked: Tracked = {
      lastRead: this.sweeps,
      quiet: (quietMs) => {
        if (closedReason !== null) return;
        if (!session) {
          if (handshakeTimeoutMs > 0 && quietMs >= handshakeTimeoutMs) {
            log.info({ conn: id, remote }, 'RTMP handshake timed out');
            finish('handshake timeout', true);
          }
        } else if (idleTimeoutMs > 0 && quietMs >= idleTimeoutMs && !session.playing) {
          log.info({ conn: id, remote, app: session.app }, 'RTMP connection idle, closed');
          finish('idle timeout', true);
        }
      },
    };
    this.track(socket, tracked);

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
          session = new RtmpSession(
            {
              send: (bytes) => conn.write(bytes),
              close: (reason) => finish(reason, false),
              connect: (i) => h.connect(i),
              publish: (r) => h.publish(r),
              play: (r) => h.play(r),
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
            },
          );
          if (r.rest.length) session.push(r.rest);
          return;
        }
        session.push(data);
      } catch (err) {
        if (err instanceof RtmpProtocolError) {
          log.info({ conn: id, remote, reason: err.message }, 'RTMP protocol error, connection closed');
          finish(`protocol error: ${err.message}`, true);
        } else {
          log.error({ conn: id, remote, err }, 'RTMP connection failed');
          finish(`internal error: ${(err as Error)?.message}`, true);
        }
      } finally {
        inRead = false;
        if (readCorked) {
          readCorked = false;
          socket.uncork();
        }
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
