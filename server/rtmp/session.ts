/**
 * One RTMP connection after the handshake, as a pure state machine: chunk bytes in,
 * decoded commands and media out through hooks, replies as bytes through `send`.
 * It knows nothing of sockets, streams or the hub: decisions (may this key publish?
 * does this stream exist?) are asked of the hooks.
 */
import { Amf0TooLarge, type Amf0Object, type Amf0Value, decodeAmf0, decodeAmf0Command, encodeAmf0 } from './amf0';
import { ChunkReader, DEFAULT_MAX_COMMAND_SIZE, type ChunkReaderLimits, encodeMessage, type RtmpMessage } from './chunk';
import { RtmpProtocolError } from './errors';
import { peerText } from './peer-text';
import {
  MessageType,
  PeerBandwidthLimit,
  UserControlEvent,
  acknowledgement,
  parseUint32,
  parseUserControl,
  setChunkSize,
  setPeerBandwidth,
  splitAggregate,
  userControl,
  windowAckSize,
} from './messages';

/** Chunk stream ids we send on. */
export const CSID = { Control: 2, Command: 3, Data: 5, Audio: 4, Video: 6 } as const;

export const OUT_CHUNK_SIZE = 60_000;
export const WINDOW_ACK_SIZE = 2_500_000;

export type Decision = { ok: true } | { ok: false; code: string; description: string };

export interface ConnectInfo {
  app: string;
  tcUrl: string;
  flashVer: string;
  /** The whole command object, for logging. */
  commandObject: Amf0Object;
}

export interface SessionHooks {
  /** Bytes for the peer. */
  send(bytes: Buffer): void;
  connect(info: ConnectInfo): Decision;
  /** A promise: the publish waits for it (e.g. a publish hook); the connection's other messages go on meanwhile. */
  publish(req: { streamId: number; name: string; query: string; type: string }): Decision | Promise<Decision>;
  play(req: { streamId: number; name: string; query: string }): Decision;
  /** Audio or video message of a publishing stream; `timestamp` is unwrapped (monotonic beyond 2^32). */
  media(m: { streamId: number; kind: 'audio' | 'video'; timestamp: number; payload: Buffer }): void;
  metadata(m: { streamId: number; data: Amf0Object }): void;
  /** The peer stopped publishing or playing the stream (FCUnpublish, closeStream, deleteStream). */
  streamClosed(streamId: number, role: 'publish' | 'play'): void;
  /** The session wants the connection closed (after its last bytes are sent). */
  close(reason: string): void;
}

type StreamRole = { role: 'none' } | { role: 'publish'; name: string } | { role: 'play'; name: string };

/** Unwraps 32-bit RTMP timestamps into a monotonic ms timeline. */
export class TimestampUnwrapper {
  private last: number | null = null;
  private high = 0;
  unwrap(ts: number): number {
    if (this.last !== null) {
      if (ts < this.last && this.last - ts > 0x80000000) this.high += 0x100000000;
      else if (ts > this.last && ts - this.last > 0x80000000 && this.high > 0) {
        // a late packet from before the wrap
        return ts + this.high - 0x100000000;
      }
    }
    this.last = ts;
    return ts + this.high;
  }
}

const MAX_STREAMS_PER_CONNECTION = 8;

/** Limits of one session, beyond the chunk reader's own. */
export interface SessionLimits extends ChunkReaderLimits {
  /**
   * Assembly bytes of incomplete messages before the connection is allowed to publish or play (the chunk reader's
   * `maxAssemblyBytes` until then; default 256 KiB), and after it (`maxAssemblyBytesAuthorized`, default 16 MiB).
   */
  maxAssemblyBytesAuthorized: number;
  /** Metadata (onMetaData) bigger than this, as sent or with its AMF0 references expanded, is ignored (default 64 KiB). */
  maxMetadataBytes: number;
  /**
   * Messages a second the peer may send on average (each part of an aggregate counts), with bursts of up to two
   * seconds' worth (default 1000). Above it the connection gets an onStatus error and is closed. 0: no limit.
   */
  maxMessagesPerSecond: number;
  /** Clock for the message rate (default Date.now). */
  now: () => number;
}

export const SESSION_DEFAULTS = {
  maxAssemblyBytes: 256 * 1024,
  maxAssemblyBytesAuthorized: 16 * 1024 * 1024,
  maxMetadataBytes: 64 * 1024,
  maxMessagesPerSecond: 1000,
} as const;

const NAME_PATTERN = /^[A-Za-z0-9_\-.~]{1,256}$/;

export function splitName(raw: string): { name: string; query: string } {
  const q = raw.indexOf('?');
  return q >= 0 ? { name: raw.slice(0, q), query: raw.slice(q + 1) } : { name: raw, query: '' };
}

export class RtmpSession {
  private readonly reader: ChunkReader;
  private connected = false;
  private closed = false;
  /** Streams whose publish waits for an asynchronous decision. */
  private readonly publishPending = new Set<number>();
  private nextStreamId = 1;
  private readonly streams = new Map<number, StreamRole>();
  private readonly unwrappers = new Map<string, TimestampUnwrapper>();
  private peerAckWindow = 0;
  private lastAckSent = 0;
  private authorizedFlag = false;
  private readonly maxAssemblyAuthorized: number;
  private readonly maxMetadataBytes: number;
  private readonly rate: number;
  private readonly now: () => number;
  /** Token bucket of the message rate: messages the peer may still send at once, as of `tokensAt`. */
  private tokens: number;
  private tokensAt: number;
  /** onMetaData messages ignored for their size. */
  droppedMetadata = 0;
  app = '';

  constructor(
    private readonly hooks: SessionHooks,
    limits?: Partial<SessionLimits>,
  ) {
    this.reader = new ChunkReader({
      ...limits,
      maxAssemblyBytes: limits?.maxAssemblyBytes ?? SESSION_DEFAULTS.maxAssemblyBytes,
      // Metadata must fit in one data message.
      maxCommandSize: Math.max(limits?.maxCommandSize ?? DEFAULT_MAX_COMMAND_SIZE, limits?.maxMetadataBytes ?? 0),
    });
    this.maxAssemblyAuthorized = limits?.maxAssemblyBytesAuthorized ?? SESSION_DEFAULTS.maxAssemblyBytesAuthorized;
    this.maxMetadataBytes = limits?.maxMetadataBytes ?? SESSION_DEFAULTS.maxMetadataBytes;
    this.rate = limits?.maxMessagesPerSecond ?? SESSION_DEFAULTS.maxMessagesPerSecond;
    this.now = limits?.now ?? Date.now;
    this.tokens = this.rate * 2;
    this.tokensAt = this.now();
  }

  /** Has the connection been allowed to publish or play (at least once)? */
  get authorized(): boolean {
    return this.authorizedFlag;
  }

  /** Bytes held for incomplete messages. */
  get assemblingBytes(): number {
    return this.reader.assemblingBytes;
  }

  /** The connection is gone: release what the session holds (assembly buffers, their share of a server budget). */
  dispose(): void {
    this.closed = true;
    this.reader.dispose();
  }

  private authorize(): void {
    if (this.authorizedFlag) return;
    this.authorizedFlag = true;
    this.reader.setMaxAssemblyBytes(this.maxAssemblyAuthorized);
  }

  /** Takes `n` messages from the rate budget; false (after telling the peer and closing) when it is exhausted. */
  private spend(n: number): boolean {
    if (this.rate <= 0) return true;
    const now = this.now();
    if (now > this.tokensAt) {
      this.tokens = Math.min(this.rate * 2, this.tokens + ((now - this.tokensAt) * this.rate) / 1000);
      this.tokensAt = now;
    }
    this.tokens -= n;
    if (this.tokens >= 0) return true;
    const description = `Too many messages: over ${this.rate} a second.`;
    // Before connect the peer still reads 128-byte chunks: say ours first (as a refused connect does).
    if (!this.connected) this.sendControl(MessageType.SetChunkSize, setChunkSize(OUT_CHUNK_SIZE));
    this.sendStatus(this.publishing[0] ?? 0, 'error', 'NetConnection.Connect.Closed', description);
    this.requestClose(`message rate over ${this.rate}/s`);
    return false;
  }

  /** Feed chunk stream bytes. Throws RtmpProtocolError on anything malformed. */
  push(data: Buffer): void {
    if (this.closed) return;
    const messages = this.reader.push(data);
    if (messages.length > 0 && !this.spend(messages.length)) return;
    for (const msg of messages) {
      if (this.closed) return;
      this.handle(msg);
    }
    if (this.peerAckWindow > 0 && this.reader.bytesReceived - this.lastAckSent >= this.peerAckWindow) {
      this.lastAckSent = this.reader.bytesReceived;
      this.sendControl(MessageType.Acknowledgement, acknowledgement(this.reader.bytesReceived % 0x100000000));
    }
  }

  /** Is any stream of this connection playing? (Players may legitimately send nothing for long.) */
  get playing(): boolean {
    for (const r of this.streams.values()) if (r.role === 'play') return true;
    return false;
  }

  get publishing(): number[] {
    return [...this.streams].filter(([, r]) => r.role === 'publish').map(([id]) => id);
  }

  // ---- sending ---------------------------------------------------------------------------

  private sendMessage(csid: number, type: number, streamId: number, timestamp: number, payload: Buffer): void {
    this.hooks.send(encodeMessage({ csid, type, streamId, timestamp: timestamp % 0x100000000, payload }, OUT_CHUNK_SIZE));
  }

  private sendControl(type: number, payload: Buffer): void {
    this.sendMessage(CSID.Control, type, 0, 0, payload);
  }

  private sendCommand(streamId: number, ...values: Amf0Value[]): void {
    this.sendMessage(CSID.Command, MessageType.CommandAmf0, streamId, 0, encodeAmf0(...values));
  }

  sendStatus(streamId: number, level: 'status' | 'error' | 'warning', code: string, description: string, extra: Amf0Object = {}): void {
    this.sendCommand(streamId, 'onStatus', 0, null, { level, code, description, ...extra });
  }

  sendUserControl(event: number, value: number): void {
    this.sendControl(MessageType.UserControl, userControl(event, value));
  }

  /** Metadata for a player, as `onMetaData`. */
  sendMetadata(streamId: number, data: Amf0Object): void {
    this.sendMessage(CSID.Data, MessageType.DataAmf0, streamId, 0, encodeAmf0('onMetaData', data));
  }

  /** One media message for a player. */
  sendMedia(streamId: number, kind: 'audio' | 'video', timestamp: number, payload: Buffer): void {
    this.sendMessage(kind === 'audio' ? CSID.Audio : CSID.Video, kind === 'audio' ? MessageType.Audio : MessageType.Video, streamId, timestamp, payload);
  }

  /** Tell a player its stream's publisher left (it may come back). */
  notifyUnpublish(streamId: number, name: string): void {
    this.sendStatus(streamId, 'status', 'NetStream.Play.UnpublishNotify', `${name} is now unpublished.`);
  }

  /** Tell a player its stream (re)started. */
  notifyPublish(streamId: number, name: string): void {
    this.sendUserControl(UserControlEvent.StreamBegin, streamId);
    this.sendStatus(streamId, 'status', 'NetStream.Play.PublishNotify', `${name} is now published.`);
  }

  /** Tell a player its stream is over. */
  notifyPlayStop(streamId: number, name: string, description = `Stopped playing ${name}.`): void {
    this.sendUserControl(UserControlEvent.StreamEOF, streamId);
    this.sendStatus(streamId, 'status', 'NetStream.Play.Stop', description);
  }

  /** Encode a data message (AMF0 `body`, e.g. onMetaData) the way `sendMetadata` does, for sending it to many players. */
  static encodeData(streamId: number, body: Buffer): Buffer {
    return encodeMessage({ csid: CSID.Data, type: MessageType.DataAmf0, streamId, timestamp: 0, payload: body }, OUT_CHUNK_SIZE);
  }

  /** Encode a media message the way `sendMedia` does, for sending one encoding to many players. */
  static encodeMedia(streamId: number, kind: 'audio' | 'video', timestamp: number, payload: Buffer): Buffer {
    return encodeMessage(
      {
        csid: kind === 'audio' ? CSID.Audio : CSID.Video,
        type: kind === 'audio' ? MessageType.Audio : MessageType.Video,
        streamId,
        timestamp: timestamp % 0x100000000,
        payload,
      },
      OUT_CHUNK_SIZE,
    );
  }

  private fail(reason: string): never {
    throw new RtmpProtocolError(reason);
  }

  /**
   * Tell the peer why with an error onStatus on stream 0 (after our chunk size, if connect has not said it yet), then
   * close the connection after those bytes.
   */
  closeWithStatus(code: string, description: string, reason: string): void {
    if (this.closed) return;
    if (!this.connected) this.sendControl(MessageType.SetChunkSize, setChunkSize(OUT_CHUNK_SIZE));
    this.sendStatus(0, 'error', code, description);
    this.requestClose(reason);
  }

  /** Has the peer's connect been accepted? */
  get isConnected(): boolean {
    return this.connected;
  }

  private requestClose(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.hooks.close(reason);
  }

  // ---- receiving -------------------------------------------------------------------------

  private handle(msg: RtmpMessage): void {
    switch (msg.type) {
      case MessageType.SetChunkSize:
      case MessageType.Abort:
        return; // applied by the reader
      case MessageType.Acknowledgement:
        parseUint32(msg.payload);
        return;
      case MessageType.WindowAckSize: {
        const n = parseUint32(msg.payload);
        this.peerAckWindow = n >= 1024 ? n : 0;
        return;
      }
      case MessageType.SetPeerBandwidth:
        parseUint32(msg.payload);
        return;
      case MessageType.UserControl: {
        const uc = parseUserControl(msg.payload);
        if (uc.event === UserControlEvent.PingRequest) this.sendUserControl(UserControlEvent.PingResponse, uc.value);
        return;
      }
      case MessageType.CommandAmf0:
        return this.onCommand(msg.streamId, msg.payload);
      case MessageType.CommandAmf3:
        // AMF3 command messages start with a format byte, then AMF0 values.
        if (msg.payload.length < 1) this.fail('empty AMF3 command');
        return this.onCommand(msg.streamId, msg.payload.subarray(1));
      case MessageType.DataAmf0:
        return this.onData(msg.streamId, msg.payload);
      case MessageType.DataAmf3:
        if (msg.payload.length < 1) this.fail('empty AMF3 data');
        return this.onData(msg.streamId, msg.payload.subarray(1));
      case MessageType.Audio:
      case MessageType.Video:
        return this.onMedia(msg.streamId, msg.type === MessageType.Audio ? 'audio' : 'video', msg.timestamp, msg.payload);
      case MessageType.Aggregate: {
        const parts = splitAggregate(msg.payload, msg.timestamp);
        if (parts.length > 1 && !this.spend(parts.length - 1)) return;
        for (const part of parts) {
          if (this.closed) return;
          if (part.type === MessageType.Audio || part.type === MessageType.Video) {
            this.onMedia(msg.streamId, part.type === MessageType.Audio ? 'audio' : 'video', part.timestamp, part.payload);
          } else if (part.type === MessageType.DataAmf0) this.onData(msg.streamId, part.payload);
        }
        return;
      }
      case MessageType.SharedObjectAmf0:
      case MessageType.SharedObjectAmf3:
        return; // not supported, harmless
      default:
        this.fail(`unknown message type ${msg.type}`);
    }
  }

  private onMedia(streamId: number, kind: 'audio' | 'video', ts: number, payload: Buffer): void {
    const role = this.streams.get(streamId);
    // A client that does not wait for NetStream.Publish.Start while the publish hook decides: its early media is dropped.
    if (this.publishPending.has(streamId)) return;
    if (!role || role.role !== 'publish') {
      // Media on a stream that is not publishing: a broken or hostile client.
      this.fail(`${kind} message on stream ${streamId}, which is not publishing`);
    }
    if (payload.length === 0) return;
    const key = `${streamId}:${kind}`;
    let u = this.unwrappers.get(key);
    if (!u) this.unwrappers.set(key, (u = new TimestampUnwrapper()));
    this.hooks.media({ streamId, kind, timestamp: u.unwrap(ts), payload });
  }

  private onData(streamId: number, payload: Buffer): void {
    const role = this.streams.get(streamId);
    if (!role || role.role !== 'publish') return; // data from players (e.g. |RtmpSampleAccess) is ignored
    if (payload.length > this.maxMetadataBytes) {
      this.droppedMetadata++;
      return;
    }
    let values: Amf0Value[];
    try {
      values = decodeAmf0(payload, { maxExpandedBytes: this.maxMetadataBytes });
    } catch (err) {
      if (!(err instanceof Amf0TooLarge)) throw err;
      this.droppedMetadata++;
      return;
    }
    let i = 0;
    if (values[i] === '@setDataFrame') i++;
    if (values[i] !== 'onMetaData') return;
    const data = values[i + 1];
    if (data && typeof data === 'object' && !Array.isArray(data) && !(data instanceof Date)) {
      this.hooks.metadata({ streamId, data: data as Amf0Object });
    }
  }

  private onCommand(streamId: number, payload: Buffer): void {
    const cmd = decodeAmf0Command(payload);
    const txn = cmd.transactionId;
    if (!this.connected && cmd.name !== 'connect') this.fail(`command ${peerText(cmd.name)} before connect`);
    switch (cmd.name) {
      case 'connect':
        return this.onConnect(txn, cmd.commandObject);
      case 'createStream': {
        if (this.streams.size >= MAX_STREAMS_PER_CONNECTION) this.fail('too many streams on one connection');
        const id = this.nextStreamId++;
        this.streams.set(id, { role: 'none' });
        this.sendCommand(0, '_result', txn, null, id);
        return;
      }
      case 'releaseStream':
      case 'FCPublish':
      case 'FCSubscribe':
      case 'getStreamLength':
        if (txn > 0) this.sendCommand(0, '_result', txn, null, cmd.name === 'getStreamLength' ? 0 : undefined);
        if (cmd.name === 'FCPublish') {
          const name = typeof cmd.args[0] === 'string' ? cmd.args[0] : '';
          this.sendCommand(0, 'onFCPublish', 0, null, { code: 'NetStream.Publish.Start', description: name });
        }
        return;
      case 'publish':
        return this.onPublish(streamId, cmd.args);
      case 'play':
        return this.onPlay(streamId, cmd.args);
      case 'FCUnpublish':
        // Some clients send FCUnpublish on stream 0 naming the stream; stop every publishing stream.
        for (const id of this.publishing) this.closeStream(id);
        if (txn > 0) this.sendCommand(0, '_result', txn, null, undefined);
        return;
      case 'closeStream':
        this.closeStream(streamId);
        return;
      case 'deleteStream': {
        const id = typeof cmd.args[0] === 'number' ? cmd.args[0] : streamId;
        this.closeStream(id);
        this.streams.delete(id);
        return;
      }
      case 'pause':
      case 'pauseRaw':
      case 'seek':
      case 'receiveAudio':
      case 'receiveVideo':
      case '_checkbw':
      case '_result':
      case '_error':
      case 'onBWDone':
      case 'setDataFrame':
        return; // live streams: nothing to do
      default:
        // Unknown calls get an error reply, as FMS does; the connection stays up.
        if (txn > 0) {
          this.sendCommand(0, '_error', txn, null, {
            level: 'error',
            code: 'NetConnection.Call.Failed',
            description: `Method not found (${peerText(cmd.name)}).`,
          });
        }
    }
  }

  private onConnect(txn: number, obj: Amf0Value): void {
    if (this.connected) this.fail('connect twice');
    const o = (obj && typeof obj === 'object' && !Array.isArray(obj) && !(obj instanceof Date) ? obj : {}) as Amf0Object;
    const str = (v: Amf0Value) => (typeof v === 'string' ? v : '');
    const app = splitName(str(o.app).replace(/\/+$/, '')).name;
    const decision = this.hooks.connect({ app, tcUrl: str(o.tcUrl), flashVer: str(o.flashVer), commandObject: o });
    if (!decision.ok) {
      // Our messages are chunked at OUT_CHUNK_SIZE: say so first, or a _error over 128 bytes reaches the peer garbled.
      this.sendControl(MessageType.SetChunkSize, setChunkSize(OUT_CHUNK_SIZE));
      this.sendCommand(0, '_error', txn, null, { level: 'error', code: decision.code, description: decision.description });
      this.requestClose(`connect refused: ${decision.description}`);
      return;
    }
    this.connected = true;
    this.app = app;
    this.sendControl(MessageType.WindowAckSize, windowAckSize(WINDOW_ACK_SIZE));
    this.sendControl(MessageType.SetPeerBandwidth, setPeerBandwidth(WINDOW_ACK_SIZE, PeerBandwidthLimit.Dynamic));
    this.sendControl(MessageType.SetChunkSize, setChunkSize(OUT_CHUNK_SIZE));
    const objectEncoding = typeof o.objectEncoding === 'number' ? o.objectEncoding : 0;
    this.sendCommand(
      0,
      '_result',
      txn,
      { fmsVer: 'FMS/3,5,7,7009', capabilities: 31, mode: 1 },
      { level: 'status', code: 'NetConnection.Connect.Success', description: 'Connection succeeded.', objectEncoding },
    );
  }

  private streamName(args: Amf0Value[]): { name: string; query: string } {
    const raw = args[0];
    if (typeof raw !== 'string') this.fail('publish/play without a stream name');
    return splitName(raw);
  }

  private onPublish(streamId: number, args: Amf0Value[]): void {
    const role = this.streams.get(streamId);
    if (!role) this.fail(`publish on stream ${streamId}, which was not created`);
    const { name, query } = this.streamName(args);
    const type = typeof args[1] === 'string' ? args[1] : 'live';
    if (role.role !== 'none') {
      this.sendStatus(streamId, 'error', 'NetStream.Publish.BadName', 'Stream is already in use on this connection.');
      return;
    }
    if (!NAME_PATTERN.test(name)) {
      this.sendStatus(streamId, 'error', 'NetStream.Publish.BadName', 'Invalid stream name.');
      this.requestClose('publish refused: invalid stream name');
      return;
    }
    if (this.publishPending.has(streamId)) {
      this.sendStatus(streamId, 'error', 'NetStream.Publish.BadName', 'A publish on this stream is already being decided.');
      return;
    }
    const decision = this.hooks.publish({ streamId, name, query, type });
    if (!(decision instanceof Promise)) {
      this.publishDecided(streamId, name, decision);
      return;
    }
    this.publishPending.add(streamId);
    decision
      .catch((): Decision => ({ ok: false, code: 'NetStream.Publish.Failed', description: 'The publish could not be decided.' }))
      .then((d) => {
        this.publishPending.delete(streamId);
        if (this.closed) return;
        try {
          this.publishDecided(streamId, name, d);
        } catch {
          this.requestClose('publish failed');
        }
      });
  }

  private publishDecided(streamId: number, name: string, decision: Decision): void {
    if (!decision.ok) {
      this.sendStatus(streamId, 'error', decision.code, decision.description);
      this.requestClose(`publish refused: ${decision.description}`);
      return;
    }
    this.streams.set(streamId, { role: 'publish', name });
    this.authorize();
    this.sendUserControl(UserControlEvent.StreamBegin, streamId);
    this.sendStatus(streamId, 'status', 'NetStream.Publish.Start', `${name} is now published.`, { details: name });
  }

  private onPlay(streamId: number, args: Amf0Value[]): void {
    const role = this.streams.get(streamId);
    if (!role) this.fail(`play on stream ${streamId}, which was not created`);
    const { name, query } = this.streamName(args);
    if (role.role !== 'none') {
      this.sendStatus(streamId, 'error', 'NetStream.Play.Failed', 'Stream is already in use on this connection.');
      return;
    }
    if (!NAME_PATTERN.test(name)) {
      this.sendStatus(streamId, 'error', 'NetStream.Play.StreamNotFound', 'Invalid stream name.');
      this.requestClose('play refused: invalid stream name');
      return;
    }
    const decision = this.hooks.play({ streamId, name, query });
    if (!decision.ok) {
      this.sendStatus(streamId, 'error', decision.code, decision.description);
      this.requestClose(`play refused: ${decision.description}`);
      return;
    }
    this.streams.set(streamId, { role: 'play', name });
    this.authorize();
    this.sendUserControl(UserControlEvent.StreamIsRecorded, streamId);
    this.sendUserControl(UserControlEvent.StreamBegin, streamId);
    this.sendStatus(streamId, 'status', 'NetStream.Play.Reset', `Playing and resetting ${name}.`, { details: name });
    this.sendStatus(streamId, 'status', 'NetStream.Play.Start', `Started playing ${name}.`, { details: name });
    this.sendMessage(CSID.Data, MessageType.DataAmf0, streamId, 0, encodeAmf0('|RtmpSampleAccess', true, true));
  }

  private closeStream(streamId: number): void {
    const role = this.streams.get(streamId);
    if (!role || role.role === 'none') return;
    this.streams.set(streamId, { role: 'none' });
    for (const k of ['audio', 'video']) this.unwrappers.delete(`${streamId}:${k}`);
    if (role.role === 'publish') {
      this.sendStatus(streamId, 'status', 'NetStream.Unpublish.Success', `${role.name} is now unpublished.`);
    }
    this.hooks.streamClosed(streamId, role.role);
  }
}
