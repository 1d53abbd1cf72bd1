/**
 * A deliberately minimal RTMP player for load generation (not a general client).
 *
 * It does the simple handshake, connect, createStream, play, and parses the chunk stream only
 * until the first decodable video frame (an AVC/HEVC keyframe, not the sequence header). From then
 * on it only counts bytes, answering Window Acknowledgement Size with Acknowledgements (that needs
 * only the byte count). All sockets read into one shared buffer (`onread`), so a reading player
 * allocates nothing.
 *
 * Times are from `performance.now()`; `startedAt` is when the TCP connect was started.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { decodeAmf0Command, encodeAmf0, type Amf0Value } from '../server/rtmp/amf0';
import { ChunkReader, encodeMessage, type RtmpMessage } from '../server/rtmp/chunk';
import { ClientHandshake } from '../server/rtmp/handshake';

/** Shared by every socket: the onread callback runs synchronously, before the next read. */
const SHARED_READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

const T_SET_CHUNK_SIZE = 1;
const T_ACK = 3;
const T_USER_CONTROL = 4;
const T_WINDOW_ACK_SIZE = 5;
const T_AUDIO = 8;
const T_VIDEO = 9;
const T_COMMAND_AMF0 = 20;
const T_COMMAND_AMF3 = 17;
const UC_SET_BUFFER_LENGTH = 3;
const UC_PING_REQUEST = 6;
const UC_PING_RESPONSE = 7;

export type LitePhase = 'connecting' | 'handshake' | 'connect' | 'createStream' | 'play' | 'streaming' | 'closed';

export interface LitePlayerOptions {
  host: string;
  port: number;
  app: string;
  name: string;
  onFirstFrame?: (p: LitePlayer) => void;
  onClose?: (p: LitePlayer) => void;
  /**
   * Keep parsing after the first frame and report every media message: its RTMP timestamp and
   * when it arrived (`performance.now()`). For a few probe players only: parsing costs CPU.
   */
  onMedia?: (kind: 'audio' | 'video', timestamp: number, at: number) => void;
}

/** Is this FLV video tag body a decodable frame (keyframe, not a sequence header)? */
export function isKeyframe(payload: Buffer): boolean {
  if (payload.length < 2) return false;
  const b0 = payload[0];
  if ((b0 & 0x80) !== 0) {
    // Enhanced RTMP: bit 7 set, frame type in bits 4..6, packet type in bits 0..3 (1 = coded frames, 3 = coded frames X).
    const pt = b0 & 0x0f;
    return ((b0 >> 4) & 0x07) === 1 && (pt === 1 || pt === 3);
  }
  if (b0 >> 4 !== 1) return false;
  const codec = b0 & 0x0f;
  // AVC (7) and HEVC (12) carry a packet type: 0 = sequence header, 1 = NALUs.
  return codec === 7 || codec === 12 ? payload[1] === 1 : true;
}

export class LitePlayer {
  phase: LitePhase = 'connecting';
  /** Every byte received, handshake included. */
  bytes = 0;
  startedAt = 0;
  tcpConnectedAt: number | null = null;
  firstVideoAt: number | null = null;
  firstFrameAt: number | null = null;
  closedAt: number | null = null;
  error: string | null = null;

  private socket: net.Socket | null = null;
  private readonly hs = new ClientHandshake();
  private reader: ChunkReader | null = null;
  private ackWindow = 0;
  private lastAck = 0;

  constructor(readonly opts: LitePlayerOptions) {}

  start(): void {
    this.startedAt = performance.now();
    const socket = net.connect({
      host: this.opts.host,
      port: this.opts.port,
      noDelay: true,
      onread: {
        buffer: SHARED_READ_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          this.onRead(buf, n);
          return true;
        },
      },
    });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => {
      this.tcpConnectedAt = performance.now();
      this.phase = 'handshake';
      socket.write(this.hs.start());
    });
    socket.on('error', (err: Error) => this.fail(err.message));
    socket.on('end', () => {
      if (!this.error) this.error = `server closed the connection (phase ${this.phase})`;
      socket.destroy();
    });
    socket.on('close', () => {
      this.phase = 'closed';
      this.closedAt = performance.now();
      this.opts.onClose?.(this);
    });
  }

  /** Milliseconds from TCP connect start to the first decodable video frame. */
  get firstFrameMs(): number | null {
    return this.firstFrameAt === null ? null : this.firstFrameAt - this.startedAt;
  }

  get open(): boolean {
    return this.closedAt === null;
  }

  stop(): void {
    this.socket?.destroy();
  }

  private fail(msg: string): void {
    this.error ??= msg;
    this.socket?.destroy();
  }

  private onRead(buf: Uint8Array, n: number): void {
    this.bytes += n;
    if (this.phase !== 'streaming' || this.opts.onMedia) {
      try {
        this.parse(Buffer.from(buf.subarray(0, n))); // copy: the read buffer is shared
      } catch (err) {
        this.fail(`protocol: ${(err as Error).message}`);
        return;
      }
    }
    if (this.ackWindow > 0 && this.bytes - this.lastAck >= this.ackWindow) {
      this.lastAck = this.bytes;
      const p = Buffer.allocUnsafe(4);
      p.writeUInt32BE(this.bytes % 0x100000000, 0);
      this.send(2, T_ACK, 0, p);
    }
  }

  private send(csid: number, type: number, streamId: number, payload: Buffer): void {
    this.socket?.write(encodeMessage({ csid, type, streamId, timestamp: 0, payload }, 128));
  }

  private command(streamId: number, csid: number, ...values: Amf0Value[]): void {
    this.send(csid, T_COMMAND_AMF0, streamId, encodeAmf0(...values));
  }

  private parse(data: Buffer): void {
    if (this.phase === 'handshake') {
      const r = this.hs.push(data);
      for (const out of r.output) this.socket?.write(out);
      if (!r.done) return;
      this.reader = new ChunkReader({ maxChunkStreams: 1024 });
      this.phase = 'connect';
      const { host, port, app } = this.opts;
      this.command(0, 3, 'connect', 1, {
        app,
        flashVer: 'LNX 9,0,124,2',
        tcUrl: `rtmp://${host}:${port}/${app}`,
        fpad: false,
        capabilities: 15,
        audioCodecs: 4071,
        videoCodecs: 252,
        videoFunction: 1,
      });
      if (r.rest.length === 0) return;
      data = r.rest;
    }
    const reader = this.reader;
    if (!reader) return;
    for (const msg of reader.push(data)) {
      this.onMessage(msg);
      if ((this.phase === 'streaming' && !this.opts.onMedia) || this.error) return;
    }
  }

  private onMessage(msg: RtmpMessage): void {
    switch (msg.type) {
      case T_WINDOW_ACK_SIZE:
        if (msg.payload.length >= 4) this.ackWindow = msg.payload.readUInt32BE(0);
        return;
      case T_USER_CONTROL:
        if (msg.payload.length >= 6 && msg.payload.readUInt16BE(0) === UC_PING_REQUEST) {
          const p = Buffer.allocUnsafe(6);
          p.writeUInt16BE(UC_PING_RESPONSE, 0);
          msg.payload.copy(p, 2, 2, 6);
          this.send(2, T_USER_CONTROL, 0, p);
        }
        return;
      case T_COMMAND_AMF0:
      case T_COMMAND_AMF3:
        return this.onCommand(msg.type === T_COMMAND_AMF3 ? msg.payload.subarray(1) : msg.payload);
      case T_AUDIO:
        if (this.phase === 'streaming') this.opts.onMedia?.('audio', msg.timestamp, performance.now());
        return;
      case T_VIDEO: {
        const now = performance.now();
        if (this.phase === 'streaming') {
          this.opts.onMedia?.('video', msg.timestamp, now);
          return;
        }
        this.firstVideoAt ??= now;
        if (isKeyframe(msg.payload)) {
          this.firstFrameAt = now;
          this.phase = 'streaming';
          if (!this.opts.onMedia) this.reader = null; // from now on: count bytes only
          this.opts.onFirstFrame?.(this);
        }
        return;
      }
      case T_SET_CHUNK_SIZE: // applied by the reader
      default:
        return;
    }
  }

  private onCommand(payload: Buffer): void {
    const cmd = decodeAmf0Command(payload);
    if (cmd.name === '_result' && cmd.transactionId === 1) {
      this.phase = 'createStream';
      this.command(0, 3, 'createStream', 2, null);
    } else if (cmd.name === '_result' && cmd.transactionId === 2) {
      const sid = typeof cmd.args[0] === 'number' ? cmd.args[0] : 1;
      this.phase = 'play';
      this.command(sid, 8, 'play', 3, null, this.opts.name, -2);
      const p = Buffer.allocUnsafe(10);
      p.writeUInt16BE(UC_SET_BUFFER_LENGTH, 0);
      p.writeUInt32BE(sid, 2);
      p.writeUInt32BE(1000, 6);
      this.send(2, T_USER_CONTROL, 0, p);
    } else if (cmd.name === '_error') {
      this.fail(`${this.phase} refused: ${describe(cmd.args[0])}`);
    } else if (cmd.name === 'onStatus') {
      const info = cmd.args[0];
      if (info && typeof info === 'object' && !Array.isArray(info) && !(info instanceof Date)) {
        const o = info as Record<string, Amf0Value>;
        if (o.level === 'error') this.fail(`${String(o.code)}: ${String(o.description ?? '')}`);
      }
    }
  }
}

function describe(v: Amf0Value): string {
  if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
    const o = v as Record<string, Amf0Value>;
    return `${String(o.code ?? '')} ${String(o.description ?? '')}`.trim();
  }
  return String(v);
}
