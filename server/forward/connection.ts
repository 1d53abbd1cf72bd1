/**
 * One outgoing RTMP publish connection to a forward target: TCP (or TLS for rtmps://, certificate checked), the
 * client handshake, then RtmpPublishClient (server/rtmp/publish-client.ts) for connect ... publish and the media.
 *
 * Bounded whatever the target does: everything up to NetStream.Publish.Start must happen within `connectTimeoutMs`
 * (a target that accepts and never answers, or answers a byte at a time); what the target sends is read by bounded
 * protocol code (garbage ends the connection); bytes waiting to be sent never pass `maxBufferedBytes` (the forwarder
 * stops handing media much earlier, see forwarder.ts), and a target that takes nothing of them for `stallMs` is
 * dropped. Each way of ending is reported once through `onClose`, with a reason meant for the operator.
 *
 * Media messages are batched: queued and written together at most `writeBatchMs` after the first of them (one write per
 * ~frame interval instead of one per message); anything else (handshake, commands, metadata) flushes the queue first, so
 * the bytes on the wire are those of unbatched writes, in the same order.
 */
import net from 'node:net';
import tls from 'node:tls';
import { RtmpProtocolError } from '../rtmp/errors';
import { ClientHandshake } from '../rtmp/handshake';
import { peerText } from '../rtmp/peer-text';
import { RtmpPublishClient } from '../rtmp/publish-client';
import type { ForwardUrl } from './url';

export interface ConnectionOptions {
  connectTimeoutMs: number;
  /** Bytes waiting to be sent beyond which the connection is dropped (the target is not reading). */
  maxBufferedBytes: number;
  /** A target that takes none of the bytes waiting for it for this long is dropped. */
  stallMs: number;
  /**
   * Media is written at most this long after it was handed over, together (one socket write per batch, like the RTMP
   * players' batches in relay/fanout.ts: the write is most of a connection's CPU). 0: one write per message.
   */
  writeBatchMs: number;
  /** TLS for rtmps:// targets: extra trusted CAs (PEM), or no certificate check at all (testing only). */
  tls: { ca?: string | Buffer; allowSelfSigned: boolean };
}

export type CloseKind =
  /** The target answered with a refusal (its own code and description in the reason). */
  | 'refused'
  /** Network: refused, reset, timed out, closed, TLS failure, garbage. */
  | 'dropped'
  /** We ended it (finish() or destroy()). */
  | 'local';

export interface ConnectionEvents {
  /** NetStream.Publish.Start: media may be sent. */
  onLive(): void;
  onClose(kind: CloseKind, reason: string): void;
}

export class ForwardConnection {
  private readonly socket: net.Socket;
  private readonly client: RtmpPublishClient;
  private readonly handshake = new ClientHandshake({ digest: true });
  private handshakeDone = false;
  private closed = false;
  private connectTimer: ReturnType<typeof setTimeout> | null;
  private stallTimer: ReturnType<typeof setInterval> | null = null;
  private lastWritten = 0;
  private lastProgressAt = Date.now();
  /** Media messages waiting for the batch's write. */
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private batchTimer: ReturnType<typeof setTimeout> | null = null;
  /** While true, what the RTMP client sends is media: queued for the batch. */
  private inMedia = false;
  /** Bytes handed to the socket (media, commands) since it opened. */
  bytesSent = 0;
  live = false;

  constructor(
    readonly url: ForwardUrl,
    private readonly opts: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    this.client = new RtmpPublishClient(
      { app: url.app, tcUrl: url.tcUrl, name: url.key },
      {
        send: (b) => (this.inMedia ? this.queue(b) : this.write(b)),
        published: () => this.onPublished(),
        refused: (reason) => this.end('refused', reason, true),
      },
    );
    const base = { host: url.host, port: url.port };
    if (url.secure) {
      this.socket = tls.connect({
        ...base,
        servername: net.isIP(url.host) ? undefined : url.host,
        rejectUnauthorized: !opts.tls.allowSelfSigned,
        ...(opts.tls.ca ? { ca: [...tls.rootCertificates, opts.tls.ca.toString()] } : {}),
      });
      this.socket.once('secureConnect', () => this.onConnected());
    } else {
      this.socket = net.connect(base);
      this.socket.once('connect', () => this.onConnected());
    }
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.end('dropped', describeSocketError(err, url), false));
    this.socket.on('close', () => this.end('dropped', this.live ? 'the target closed the connection' : this.closedDuring(), false));
    this.connectTimer = setTimeout(() => this.end('dropped', `no answer to ${this.stage()} within ${opts.connectTimeoutMs / 1000} s`, false), opts.connectTimeoutMs);
    this.connectTimer.unref();
  }

  /** Bytes written and not yet taken by the kernel (the target's backlog on our side). */
  get bufferedBytes(): number {
    return this.closed ? 0 : this.socket.writableLength + this.batchBytes;
  }

  metadata(m: Record<string, unknown>): void {
    if (!this.closed) this.client.metadata(m as never);
  }

  media(kind: 'audio' | 'video', timestamp: number, body: Buffer): void {
    if (this.closed) return;
    this.inMedia = this.opts.writeBatchMs > 0;
    try {
      this.client.media(kind, timestamp, body);
    } finally {
      this.inMedia = false;
    }
  }

  /** End cleanly: FCUnpublish + deleteStream, then close after those bytes (cut after 2 s if they do not go). */
  finish(): void {
    if (this.closed) return;
    this.client.finish();
    this.end('local', 'stopped', true);
  }

  /** Drop it now. */
  destroy(reason = 'stopped'): void {
    this.end('local', reason, false);
  }

  // ---- internals -------------------------------------------------------------------------

  private stage(): string {
    if (!this.handshakeDone) return this.socket.connecting ? 'the TCP connect' : 'the RTMP handshake';
    const s = this.client.state;
    return s === 'connecting' ? 'connect' : s === 'creating' ? 'createStream' : 'publish';
  }

  private closedDuring(): string {
    if (!this.handshakeDone) return 'the target closed the connection during the handshake';
    const s = this.client.state;
    if (s === 'connecting') return `the target closed the connection after connect (application "${peerText(this.url.app)}" refused?)`;
    return `the target closed the connection after ${s === 'creating' ? 'createStream' : 'publish'} (stream key refused?)`;
  }

  private onConnected(): void {
    if (this.closed) return;
    this.write(this.handshake.start());
  }

  private onData(d: Buffer): void {
    if (this.closed) return;
    try {
      if (!this.handshakeDone) {
        const r = this.handshake.push(d);
        for (const out of r.output) this.write(out);
        if (!r.done) return;
        this.handshakeDone = true;
        this.client.start();
        if (r.rest.length > 0) this.client.push(r.rest);
        return;
      }
      this.client.push(d);
    } catch (err) {
      if (!(err instanceof RtmpProtocolError)) throw err;
      this.end('dropped', `the target sent something that is not RTMP (${peerText(err.message, 120)})`, false);
    }
  }

  private onPublished(): void {
    if (this.closed) return;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.live = true;
    this.lastProgressAt = Date.now();
    this.stallTimer = setInterval(() => this.checkStall(), Math.max(250, Math.min(2000, this.opts.stallMs / 4)));
    this.stallTimer.unref();
    this.events.onLive();
  }

  private checkStall(): void {
    const written = this.socket.bytesWritten;
    const now = Date.now();
    if (written !== this.lastWritten || this.socket.writableLength === 0) {
      this.lastWritten = written;
      this.lastProgressAt = now;
    } else if (now - this.lastProgressAt >= this.opts.stallMs) {
      this.end('dropped', `the target took nothing of what we sent for ${Math.round(this.opts.stallMs / 1000)} s`, false);
    }
  }

  private queue(b: Buffer): void {
    this.batch.push(b);
    this.batchBytes += b.length;
    if (this.batchTimer) return;
    this.batchTimer = setTimeout(this.flush, this.opts.writeBatchMs);
    this.batchTimer.unref();
  }

  /** Write the queued media now: one vectored write (cork/uncork), without copying the messages together. */
  private readonly flush = (): void => {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    if (this.batchBytes === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    if (batch.length === 1) {
      this.socketWrite(batch[0]);
      return;
    }
    this.socket.cork();
    for (const b of batch) this.socketWrite(b);
    if (!this.closed) this.socket.uncork();
  };

  private write(b: Buffer): void {
    this.flush();
    this.socketWrite(b);
  }

  private socketWrite(b: Buffer): void {
    if (this.closed) return;
    if (this.socket.writableLength + b.length > this.opts.maxBufferedBytes) {
      this.end('dropped', `the target is not reading (${this.socket.writableLength} bytes waiting)`, false);
      return;
    }
    this.bytesSent += b.length;
    this.socket.write(b);
  }

  private end(kind: CloseKind, reason: string, graceful: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.live = false;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.stallTimer) clearInterval(this.stallTimer);
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.connectTimer = this.stallTimer = this.batchTimer = null;
    this.batch = [];
    this.batchBytes = 0;
    this.client.dispose();
    if (graceful && !this.socket.destroyed) {
      this.socket.end();
      const cut = setTimeout(() => this.socket.destroy(), 2000);
      cut.unref();
      this.socket.once('close', () => clearTimeout(cut));
    } else this.socket.destroy();
    this.events.onClose(kind, reason);
  }
}

function describeSocketError(err: NodeJS.ErrnoException, url: ForwardUrl): string {
  const where = `${url.host}:${url.port}`;
  switch (err.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${where}`;
    case 'ECONNRESET':
      return 'the target reset the connection';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${url.host}`;
    case 'ETIMEDOUT':
      return `connecting to ${where} timed out`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where} is unreachable`;
    default:
      // TLS errors (certificate checks) carry their own code and a clear message.
      return `${err.code ? `${err.code}: ` : ''}${peerText(err.message, 160)}`;
  }
}
