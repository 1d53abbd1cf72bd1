/**
 * The RTMP listener: sockets, handshake, limits and timeouts around RtmpSession.
 * Whatever a client sends, the worst it can do is get its own socket closed.
 */
import net from 'node:net';
import { RtmpProtocolError } from './errors';
import { ServerHandshake } from './handshake';
import { RtmpSession, type SessionHooks } from './session';

export interface RtmpLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RtmpServerOptions {
  maxConnections: number;
  handshakeTimeoutMs: number;
  /** A connection that is not playing and sends nothing for this long is closed. */
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

export class RtmpServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  readonly options: RtmpServerOptions;

  constructor(
    options: Partial<RtmpServerOptions>,
    private readonly makeHandler: (conn: RtmpConnection) => ConnectionHandler,
  ) {
    this.options = { ...RTMP_DEFAULTS, ...options };
    this.server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.options.log.error({ err }, 'RTMP listener error'));
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /** The net.Server, for `listen()` by the caller. */
  get netServer(): net.Server {
    return this.server;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const s of this.sockets) s.destroy();
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
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const id = nextConnId++;
    let closedReason: string | null = null;
    let handler: ConnectionHandler | null = null;
    let session: RtmpSession | null = null;
    const handshake = new ServerHandshake();

    const finish = (reason: string, destroy: boolean) => {
      if (closedReason !== null) return;
      closedReason = reason;
      socket.setTimeout(0);
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

    const conn: RtmpConnection = {
      id,
      remote,
      get session() {
        if (!session) throw new Error('no session before the handshake');
        return session;
      },
      write: (bytes) => {
        if (closedReason === null && !socket.destroyed) socket.write(bytes);
      },
      corked: (fn) => corked(socket, fn),
      bufferedBytes: () => socket.writableLength,
      close: (reason) => finish(reason, false),
    };

    socket.setTimeout(this.options.handshakeTimeoutMs);
    socket.on('timeout', () => {
      if (!session) {
        log.info({ conn: id, remote }, 'RTMP handshake timed out');
        finish('handshake timeout', true);
      } else if (!session.playing) {
        log.info({ conn: id, remote, app: session.app }, 'RTMP connection idle, closed');
        finish('idle timeout', true);
      }
    });

    socket.on('data', (data: Buffer) => {
      if (closedReason !== null) return;
      // The replies to one read (handshake; connect, createStream, play ...) go out in one write.
      socket.cork();
      try {
        if (!session) {
          const r = handshake.push(data);
          for (const out of r.output) socket.write(out);
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
            { maxMessageSize: this.options.maxMessageSize, maxChunkStreams: this.options.maxChunkStreams },
          );
          socket.setTimeout(this.options.idleTimeoutMs);
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
        socket.uncork();
      }
    });

    socket.on('close', () => {
      this.sockets.delete(socket);
      finish('socket closed', true);
    });
  }
}
