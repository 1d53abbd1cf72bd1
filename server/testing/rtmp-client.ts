/**
 * A small raw RTMP client over TCP, for tests and load generation: handshake, connect,
 * createStream, then play (a player) or publish (a publisher). Built on the server's own
 * protocol code (ClientHandshake, ChunkReader, encodeMessage, AMF0), so it is exactly as
 * strict as the server when reading: a malformed byte from the server is an error here.
 *
 * It answers only what keeps a connection healthy: Ping Request (with Ping Response) and
 * the server's Window Acknowledgement Size (with Acknowledgements). Everything else the
 * server sends is handed to `onMessage`.
 *
 * Cost per received message is one ChunkReader step plus a few counters: media payloads are
 * not copied (they may be views into a socket read: copy them to keep them), and commands
 * are only AMF-decoded when they are commands. Thousands of players fit in one process.
 *
 *   const player = await connectPlayer(`rtmp://127.0.0.1:${port}/live/${id}`, {
 *     onMessage: (m) => { ... },       // every message, media included
 *   });
 *   player.media.lastTimestamp;         // media counters, always kept
 *   player.pause();                     // stop reading: a stalled player
 *   await player.close();
 *
 *   const pub = await connectPublisher(`rtmp://127.0.0.1:${port}/live/${key}`);
 *   pub.metadata({ width: 320, height: 240 });
 *   pub.video(0, flvVideoTagBody);
 *   pub.audio(0, flvAudioTagBody);
 */
import net from 'node:net';
import { Amf0EcmaArray, decodeAmf0Command, encodeAmf0, type Amf0Command, type Amf0Object, type Amf0Value } from '../rtmp/amf0';
import { ChunkReader, DEFAULT_CHUNK_SIZE, encodeMessage, type RtmpMessage } from '../rtmp/chunk';
import { ClientHandshake } from '../rtmp/handshake';
import { MessageType, UserControlEvent, acknowledgement, parseUint32, parseUserControl, setChunkSize, userControl } from '../rtmp/messages';

/** Chunk stream ids this client sends on (the ones ffmpeg uses). */
export const CLIENT_CSID = { Control: 2, Command: 3, Audio: 4, Data: 5, Video: 6 } as const;

export interface RtmpTarget {
  host: string;
  port: number;
  app: string;
  /** Stream name (publish key or stream id), with any `?query`. */
  name: string;
  /** `rtmp://host:port/app`, as sent in connect. */
  tcUrl: string;
}

/** `rtmp://host[:port]/app/name` (the name may contain further slashes). */
export function parseRtmpUrl(url: string): RtmpTarget {
  const m = /^rtmp:\/\/([^/:]+|\[[^\]]+\])(?::(\d+))?\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error(`not an rtmp:// URL: ${url}`);
  const host = m[1].replace(/^\[|\]$/g, '');
  const port = m[2] ? Number(m[2]) : 1935;
  return { host, port, app: m[3], name: m[4] ?? '', tcUrl: `rtmp://${m[1]}:${port}/${m[3]}` };
}

export interface RtmpClientOptions {
  /** Milliseconds allowed for TCP connect + handshake, and for each awaited reply. Default 10 000. */
  timeoutMs?: number;
  /** Send a digest (Flash-style) C1 and verify the server's answer, like ffmpeg. Default false. */
  digest?: boolean;
  /** Outgoing chunk size, announced with Set Chunk Size right after the handshake. Default 4096 (128: none sent). */
  chunkSize?: number;
  /** Every message from the server, in order. The payload may be a view into a socket read. */
  onMessage?: (msg: RtmpMessage) => void;
  /** Every byte this client writes after the handshake, in order (to record a session). */
  onSend?: (bytes: Buffer) => void;
  /** Local address to connect from (e.g. 127.0.0.2: another client address on loopback). */
  localAddress?: string;
}

interface PendingCall {
  resolve: (c: Amf0Command) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface StatusWaiter {
  streamId: number;
  codes: readonly string[];
  resolve: (info: Amf0Object) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class RtmpClientError extends Error {
  override name = 'RtmpClientError';
}

/** One RTMP connection, handshake done. Use connectPlayer / connectPublisher, or open() and call() yourself. */
export class RtmpClient {
  readonly socket: net.Socket;
  readonly target: RtmpTarget;
  /** Chunk stream bytes received after the handshake. */
  bytesIn = 0;
  /** Messages received. */
  messagesIn = 0;
  /** Resolves with a reason when the socket is closed (by either side). Never rejects. */
  readonly closed: Promise<string>;
  /** Why the connection closed, once it has. */
  closeReason: string | null = null;

  private readonly reader = new ChunkReader({ maxMessageSize: 16 * 1024 * 1024, maxChunkStreams: 256 });
  private readonly timeoutMs: number;
  private readonly onMessage?: (msg: RtmpMessage) => void;
  private readonly onSend?: (bytes: Buffer) => void;
  private outChunkSize = DEFAULT_CHUNK_SIZE;
  private ackWindow = 0;
  private lastAck = 0;
  private nextTxn = 1;
  private readonly calls = new Map<number, PendingCall>();
  private statusWaiters: StatusWaiter[] = [];
  private resolveClosed!: (reason: string) => void;

  private constructor(socket: net.Socket, target: RtmpTarget, opts: RtmpClientOptions) {
    this.socket = socket;
    this.target = target;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.onMessage = opts.onMessage;
    this.onSend = opts.onSend;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** TCP connect and handshake. Rejects on refusal, timeout or a bad handshake. */
  static open(target: RtmpTarget | string, opts: RtmpClientOptions = {}): Promise<RtmpClient> {
    const t = typeof target === 'string' ? parseRtmpUrl(target) : target;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: t.host, port: t.port, noDelay: true, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
      const client = new RtmpClient(socket, t, opts);
      const hs = new ClientHandshake({ digest: opts.digest ?? false });
      let done = false;
      const timer = setTimeout(() => fail(new RtmpClientError(`handshake with ${t.host}:${t.port} timed out`)), client.timeoutMs);
      const fail = (err: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.on('error', (err) => {
        if (!done) fail(err);
        else client.shutdown(`socket error: ${err.message}`);
      });
      socket.on('close', () => {
        if (!done) fail(new RtmpClientError('connection closed during the handshake'));
        client.shutdown(client.closeReason ?? 'closed');
      });
      socket.once('connect', () => socket.write(hs.start()));
      const onHandshakeData = (data: Buffer) => {
        let r;
        try {
          r = hs.push(data);
        } catch (err) {
          fail(err as Error);
          return;
        }
        for (const out of r.output) socket.write(out);
        if (!r.done) return;
        done = true;
        clearTimeout(timer);
        socket.off('data', onHandshakeData);
        socket.on('data', (d: Buffer) => client.onData(d));
        const size = opts.chunkSize ?? 4096;
        if (size !== DEFAULT_CHUNK_SIZE) {
          client.sendMessage({ csid: CLIENT_CSID.Control, type: MessageType.SetChunkSize, streamId: 0, timestamp: 0, payload: setChunkSize(size) });
          client.outChunkSize = size;
        }
        if (r.rest.length) client.onData(r.rest);
        resolve(client);
      };
      socket.on('data', onHandshakeData);
    });
  }

  /** Outgoing chunk size in force. */
  get chunkSize(): number {
    return this.outChunkSize;
  }

  /** Raw bytes to the server (counted as sent, and given to onSend). */
  write(bytes: Buffer): void {
    if (this.closeReason !== null) return;
    this.onSend?.(bytes);
    this.socket.write(bytes);
  }

  /** One message, chunked with the current outgoing chunk size. */
  sendMessage(msg: RtmpMessage): void {
    this.write(encodeMessage(msg, this.outChunkSize));
  }

  /** A command without a reply (transaction id 0) on a message stream. */
  command(streamId: number, name: string, ...args: Amf0Value[]): void {
    this.sendMessage({ csid: CLIENT_CSID.Command, type: MessageType.CommandAmf0, streamId, timestamp: 0, payload: encodeAmf0(name, 0, null, ...args) });
  }

  /** A command on stream 0 awaiting its `_result` (resolves) or `_error` (rejects). */
  call(name: string, commandObject: Amf0Value, ...args: Amf0Value[]): Promise<Amf0Command> {
    const txn = this.nextTxn++;
    return new Promise((resolve, reject) => {
      if (this.closeReason !== null) return reject(new RtmpClientError(`${name}: connection closed (${this.closeReason})`));
      const timer = setTimeout(() => {
        this.calls.delete(txn);
        reject(new RtmpClientError(`${name}: no reply within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.calls.set(txn, { resolve, reject, timer });
      this.sendMessage({
        csid: CLIENT_CSID.Command,
        type: MessageType.CommandAmf0,
        streamId: 0,
        timestamp: 0,
        payload: encodeAmf0(name, txn, commandObject, ...args),
      });
    });
  }

  /** Waits for an onStatus on `streamId` with one of `codes`; rejects on an error-level status, close or timeout. */
  waitStatus(streamId: number, codes: readonly string[]): Promise<Amf0Object> {
    return new Promise((resolve, reject) => {
      if (this.closeReason !== null) return reject(new RtmpClientError(`connection closed (${this.closeReason})`));
      const w: StatusWaiter = {
        streamId,
        codes,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.statusWaiters = this.statusWaiters.filter((x) => x !== w);
          reject(new RtmpClientError(`no ${codes.join('/')} within ${this.timeoutMs} ms`));
        }, this.timeoutMs),
      };
      this.statusWaiters.push(w);
    });
  }

  /** The application-level connect; resolves with the server's `_result`. */
  connect(extra: Amf0Object = {}): Promise<Amf0Command> {
    return this.call('connect', {
      app: this.target.app,
      flashVer: 'LNX 9,0,124,2',
      tcUrl: this.target.tcUrl,
      fpad: false,
      capabilities: 15,
      audioCodecs: 4071,
      videoCodecs: 252,
      videoFunction: 1,
      ...extra,
    });
  }

  /** createStream; resolves with the message stream id. */
  async createStream(): Promise<number> {
    const r = await this.call('createStream', null);
    const id = r.args[0];
    if (typeof id !== 'number') throw new RtmpClientError('createStream: no stream id in the reply');
    return id;
  }

  /** Stop reading from the socket (the server's send buffer then fills up). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Closes the socket at once; resolves when it is closed. */
  close(): Promise<string> {
    this.socket.destroy();
    return this.closed;
  }

  private onData(data: Buffer): void {
    if (this.closeReason !== null) return;
    this.bytesIn += data.length;
    let messages: RtmpMessage[];
    try {
      messages = this.reader.push(data);
    } catch (err) {
      this.shutdown(`bad data from the server: ${(err as Error).message}`);
      this.socket.destroy();
      return;
    }
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      this.messagesIn++;
      const t = m.type;
      if (t === MessageType.CommandAmf0 || t === MessageType.CommandAmf3) this.onCommand(m);
      else if (t === MessageType.UserControl) this.onUserControl(m);
      else if (t === MessageType.WindowAckSize && m.payload.length >= 4) this.ackWindow = parseUint32(m.payload);
      this.onMessage?.(m);
    }
    if (this.ackWindow > 0 && this.bytesIn - this.lastAck >= this.ackWindow) {
      this.lastAck = this.bytesIn;
      this.sendMessage({
        csid: CLIENT_CSID.Control,
        type: MessageType.Acknowledgement,
        streamId: 0,
        timestamp: 0,
        payload: acknowledgement(this.bytesIn % 0x100000000),
      });
    }
  }

  private onUserControl(m: RtmpMessage): void {
    if (m.payload.length < 6) return;
    const uc = parseUserControl(m.payload);
    if (uc.event === UserControlEvent.PingRequest) {
      this.sendMessage({ csid: CLIENT_CSID.Control, type: MessageType.UserControl, streamId: 0, timestamp: 0, payload: userControl(UserControlEvent.PingResponse, uc.value) });
    }
  }

  private onCommand(m: RtmpMessage): void {
    let cmd: Amf0Command;
    try {
      cmd = decodeAmf0Command(m.type === MessageType.CommandAmf3 ? m.payload.subarray(1) : m.payload);
    } catch {
      return; // not ours to judge; onMessage still sees it
    }
    if (cmd.name === '_result' || cmd.name === '_error') {
      const call = this.calls.get(cmd.transactionId);
      if (!call) return;
      this.calls.delete(cmd.transactionId);
      clearTimeout(call.timer);
      if (cmd.name === '_result') call.resolve(cmd);
      else call.reject(new RtmpClientError(`_error: ${describe(cmd.args[0])}`));
    } else if (cmd.name === 'onStatus') {
      const info = cmd.args[0];
      if (!info || typeof info !== 'object' || Array.isArray(info) || info instanceof Date || info instanceof Amf0EcmaArray) return;
      const o = info as Amf0Object;
      for (const w of [...this.statusWaiters]) {
        if (w.streamId !== m.streamId) continue;
        if (o.level === 'error' || w.codes.includes(String(o.code))) {
          this.statusWaiters = this.statusWaiters.filter((x) => x !== w);
          clearTimeout(w.timer);
          if (o.level === 'error') w.reject(new RtmpClientError(`onStatus ${String(o.code)}: ${String(o.description)}`));
          else w.resolve(o);
        }
      }
    }
  }

  private shutdown(reason: string): void {
    if (this.closeReason === null) this.closeReason = reason;
    const err = new RtmpClientError(`connection closed (${this.closeReason})`);
    for (const [, c] of this.calls) {
      clearTimeout(c.timer);
      c.reject(err);
    }
    this.calls.clear();
    for (const w of this.statusWaiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.statusWaiters = [];
    if (this.socket.destroyed) this.resolveClosed(this.closeReason);
  }
}

function describe(v: Amf0Value): string {
  if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Amf0EcmaArray)) {
    return `${String(v.code)}: ${String(v.description)}`;
  }
  return String(v);
}

/** Media counters a player keeps (timestamps are the raw 32-bit RTMP ones). */
export interface PlayerMediaStats {
  videoMessages: number;
  audioMessages: number;
  /** Payload bytes of audio + video messages. */
  bytes: number;
  /** Timestamp of the first media message, or -1. */
  firstTimestamp: number;
  /** Highest media timestamp so far, or -1. */
  lastTimestamp: number;
  /** Video messages that were keyframes (FLV frame type 1). */
  keyframes: number;
}

export interface PlayerOptions extends RtmpClientOptions {
  /** Stop reading right after NetStream.Play.Start (a stalled player). Default false. */
  pause?: boolean;
}

export interface RtmpPlayer extends RtmpClient {
  readonly streamId: number;
  readonly media: PlayerMediaStats;
}

/**
 * Connects, plays the URL's stream name and resolves after NetStream.Play.Start.
 * Rejects if the server refuses (e.g. NetStream.Play.StreamNotFound).
 */
export async function connectPlayer(url: string | RtmpTarget, opts: PlayerOptions = {}): Promise<RtmpPlayer> {
  const media: PlayerMediaStats = { videoMessages: 0, audioMessages: 0, bytes: 0, firstTimestamp: -1, lastTimestamp: -1, keyframes: 0 };
  const user = opts.onMessage;
  const onMessage = (m: RtmpMessage) => {
    const t = m.type;
    if (t === MessageType.Video || t === MessageType.Audio) {
      if (t === MessageType.Video) {
        media.videoMessages++;
        if (m.payload.length > 0 && m.payload[0] >> 4 === 1) media.keyframes++;
      } else media.audioMessages++;
      media.bytes += m.payload.length;
      if (media.firstTimestamp < 0) media.firstTimestamp = m.timestamp;
      if (m.timestamp > media.lastTimestamp) media.lastTimestamp = m.timestamp;
    }
    if (user) user(m);
  };
  const client = await RtmpClient.open(url, { ...opts, onMessage });
  try {
    await client.connect();
    const streamId = await client.createStream();
    // Like ffmpeg: a 3 s client buffer, then play (start -1000: live, else recorded).
    client.sendMessage({
      csid: CLIENT_CSID.Control,
      type: MessageType.UserControl,
      streamId: 0,
      timestamp: 0,
      payload: userControl(UserControlEvent.SetBufferLength, streamId, 3000),
    });
    const started = client.waitStatus(streamId, ['NetStream.Play.Start']);
    client.command(streamId, 'play', client.target.name, -1000);
    await started;
    if (opts.pause) client.pause();
    return Object.assign(client, { streamId, media });
  } catch (err) {
    client.socket.destroy();
    throw err;
  }
}

export interface RtmpPublisher extends RtmpClient {
  readonly streamId: number;
  /** `@setDataFrame onMetaData` with these properties (as an ECMA array, like ffmpeg). */
  metadata(props: Record<string, Amf0Value>): void;
  /** One FLV audio tag body at `timestamp` ms. */
  audio(timestamp: number, body: Buffer): void;
  /** One FLV video tag body at `timestamp` ms. */
  video(timestamp: number, body: Buffer): void;
  /** FCUnpublish + deleteStream, then close the socket. */
  unpublish(): Promise<string>;
}

/**
 * Connects and publishes to the URL's stream name (the stream key); resolves after
 * NetStream.Publish.Start. Rejects if the server refuses (e.g. a wrong key).
 */
export async function connectPublisher(url: string | RtmpTarget, opts: RtmpClientOptions = {}): Promise<RtmpPublisher> {
  const client = await RtmpClient.open(url, opts);
  try {
    await client.connect({ type: 'nonprivate' });
    const streamId = await client.createStream();
    const started = client.waitStatus(streamId, ['NetStream.Publish.Start']);
    client.command(streamId, 'publish', client.target.name, 'live');
    await started;
    const send = (csid: number, type: number, timestamp: number, payload: Buffer) =>
      client.sendMessage({ csid, type, streamId, timestamp: timestamp >>> 0, payload });
    return Object.assign(client, {
      streamId,
      metadata(props: Record<string, Amf0Value>) {
        send(CLIENT_CSID.Data, MessageType.DataAmf0, 0, encodeAmf0('@setDataFrame', 'onMetaData', new Amf0EcmaArray(props)));
      },
      audio(timestamp: number, body: Buffer) {
        send(CLIENT_CSID.Audio, MessageType.Audio, timestamp, body);
      },
      video(timestamp: number, body: Buffer) {
        send(CLIENT_CSID.Video, MessageType.Video, timestamp, body);
      },
      unpublish() {
        client.command(0, 'FCUnpublish', client.target.name);
        client.command(0, 'deleteStream', streamId);
        client.socket.end();
        const t = setTimeout(() => client.socket.destroy(), 2000);
        return client.closed.finally(() => clearTimeout(t));
      },
    });
  } catch (err) {
    client.socket.destroy();
    throw err;
  }
}
