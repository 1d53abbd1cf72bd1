/**
 * The publishing side of an RTMP connection after the handshake, as a pure state machine (the mirror image of
 * RtmpSession): it sends connect, releaseStream, FCPublish, createStream and publish (Adobe RTMP specification 1.0,
 * section 7.2, as OBS and ffmpeg do), reads the server's answers, and encodes metadata and media for the stream it
 * was given. Bytes in through push(), bytes out through `hooks.send`; no sockets, no timers.
 *
 * Whatever the server sends, the worst it can do is end this connection: its messages are bounded (chunk reader
 * limits), a malformed byte throws RtmpProtocolError, and a refusal (`_error`, an error-level onStatus, or a
 * NetStream.Publish.* failure) is reported once through `hooks.refused` with the server's own code and description
 * (cut to PEER_TEXT_MAX characters, control characters replaced).
 */
import { Amf0EcmaArray, decodeAmf0Command, encodeAmf0, type Amf0Object, type Amf0Value } from './amf0';
import { ChunkReader, encodeMessage, type RtmpMessage } from './chunk';
import { RtmpProtocolError } from './errors';
import { acknowledgement, MessageType, parseUint32, parseUserControl, setChunkSize, UserControlEvent, userControl } from './messages';
import { peerText } from './peer-text';
import { CSID } from './session';

/** Our outgoing chunk size, announced before connect (OBS uses 4096; every server we know accepts it). */

/** The last encoding of each media body (held only as long as the body is: the hub's GOP cache, a player's queue). */
const encodedMedia = new WeakMap<Buffer, { timestamp: number; streamId: number; video: boolean; bytes: Buffer }>();

export const PUBLISH_CHUNK_SIZE = 4096;

/** What we expect from a server we publish to: small command replies. Anything bigger is an error. */
const READER_LIMITS = {
  maxMessageSize: 256 * 1024,
  maxCommandSize: 64 * 1024,
  maxChunkStreams: 16,
  maxAssemblyBytes: 512 * 1024,
};

const TXN = { connect: 1, releaseStream: 2, FCPublish: 3, createStream: 4, publish: 5 } as const;

export interface PublishClientHooks {
  /** Bytes for the server, in order. */
  send(bytes: Buffer): void;
  /** NetStream.Publish.Start: media may flow. */
  published(): void;
  /** The server refused (or stopped) the publish; the connection should be closed. Called at most once. */
  refused(reason: string): void;
}

export interface PublishTarget {
  /** The application part of the URL (`live`, `live2`, `app/instance`). */
  app: string;
  /** `rtmp://host[:port]/app`, sent in connect. */
  tcUrl: string;
  /** The stream name (the platform's key), with any `?query`. */
  name: string;
}

export type PublishClientState = 'idle' | 'connecting' | 'creating' | 'publishing' | 'live' | 'closed';

export class RtmpPublishClient {
  private readonly reader = new ChunkReader(READER_LIMITS);
  private stateValue: PublishClientState = 'idle';
  private streamId = 0;
  private ackWindow = 0;
  private lastAck = 0;

  constructor(
    private readonly target: PublishTarget,
    private readonly hooks: PublishClientHooks,
  ) {}

  get state(): PublishClientState {
    return this.stateValue;
  }

  /** Bytes received from the server so far. */
  get bytesReceived(): number {
    return this.reader.bytesReceived;
  }

  /** Right after the handshake: our chunk size, then connect. */
  start(): void {
    if (this.stateValue !== 'idle') throw new RtmpProtocolError('publish client already started');
    this.stateValue = 'connecting';
    this.sendMessage(CSID.Control, MessageType.SetChunkSize, 0, 0, setChunkSize(PUBLISH_CHUNK_SIZE));
    this.command(0, 'connect', TXN.connect, {
      app: this.target.app,
      type: 'nonprivate',
      flashVer: 'FMLE/3.0 (compatible; GoLive)',
      tcUrl: this.target.tcUrl,
    });
  }

  /** Chunk stream bytes from the server. Throws RtmpProtocolError on anything malformed. */
  push(data: Buffer): void {
    if (this.stateValue === 'closed') return;
    for (const msg of this.reader.push(data)) {
      if (this.isClosed()) return;
      this.handle(msg);
    }
    const received = this.reader.bytesReceived;
    if (this.ackWindow > 0 && received - this.lastAck >= this.ackWindow) {
      this.lastAck = received;
      this.sendMessage(CSID.Control, MessageType.Acknowledgement, 0, 0, acknowledgement(received % 0x100000000));
    }
  }

  /** `@setDataFrame onMetaData` (what a server keeps and hands its players). Only once live. */
  metadata(m: Amf0Object): void {
    if (this.stateValue !== 'live') return;
    this.sendMessage(CSID.Data, MessageType.DataAmf0, this.streamId, 0, encodeAmf0('@setDataFrame', 'onMetaData', new Amf0EcmaArray(m)));
  }

  /**
   * One FLV audio/video tag body at `timestamp` (ms; taken mod 2^32). Only once live. The same body sent by several
   * clients at the same timestamp on the same message stream (one stream forwarded to several targets, which all began
   * at the same keyframe) is encoded once: the chunks of a message are the same bytes whoever sends them.
   */
  media(kind: 'audio' | 'video', timestamp: number, body: Buffer): void {
    if (this.stateValue !== 'live') return;
    const video = kind === 'video';
    const ts = Math.max(0, Math.floor(timestamp)) % 0x100000000;
    const last = encodedMedia.get(body);
    if (last && last.timestamp === ts && last.streamId === this.streamId && last.video === video) {
      this.hooks.send(last.bytes);
      return;
    }
    const bytes = encodeMessage({ csid: video ? CSID.Video : CSID.Audio, type: video ? MessageType.Video : MessageType.Audio, streamId: this.streamId, timestamp: ts, payload: body }, PUBLISH_CHUNK_SIZE);
    encodedMedia.set(body, { timestamp: ts, streamId: this.streamId, video, bytes });
    this.hooks.send(bytes);
  }

  /** End the publish cleanly (FCUnpublish, deleteStream); the connection may be closed after these bytes. */
  finish(): void {
    if (this.stateValue === 'closed') return;
    const wasLive = this.stateValue === 'live' || this.stateValue === 'publishing';
    this.stateValue = 'closed';
    if (wasLive) {
      this.command(0, 'FCUnpublish', 6, null, this.target.name);
      this.command(0, 'deleteStream', 7, null, this.streamId);
    }
  }

  /** Forget the connection (it is gone): nothing more is sent or reported. */
  dispose(): void {
    this.stateValue = 'closed';
    this.reader.dispose();
  }

  // ---- internals -------------------------------------------------------------------------

  private sendMessage(csid: number, type: number, streamId: number, timestamp: number, payload: Buffer): void {
    this.hooks.send(encodeMessage({ csid, type, streamId, timestamp: timestamp % 0x100000000, payload }, PUBLISH_CHUNK_SIZE));
  }

  private command(streamId: number, name: string, txn: number, obj: Amf0Value, ...args: Amf0Value[]): void {
    this.sendMessage(CSID.Command, MessageType.CommandAmf0, streamId, 0, encodeAmf0(name, txn, obj, ...args));
  }

  private isClosed(): boolean {
    return this.stateValue === 'closed';
  }

  /** The server's words with our stream name (the platform's key, a secret) taken out: some servers echo it. */
  private describe(info: StatusInfo): string {
    const hide = (t: string) => {
      for (const secret of [this.target.name, this.target.name.split('?')[0]]) if (secret.length >= 4) t = t.split(secret).join('••••');
      return t;
    };
    return describe({ ...info, code: hide(info.code), description: hide(info.description) });
  }

  private refuse(reason: string): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.hooks.refused(reason);
  }

  private handle(msg: RtmpMessage): void {
    switch (msg.type) {
      case MessageType.WindowAckSize: {
        const n = parseUint32(msg.payload);
        this.ackWindow = n >= 1024 ? n : 0;
        return;
      }
      case MessageType.UserControl: {
        const uc = parseUserControl(msg.payload);
        if (uc.event === UserControlEvent.PingRequest) {
          this.sendMessage(CSID.Control, MessageType.UserControl, 0, 0, userControl(UserControlEvent.PingResponse, uc.value));
        }
        return;
      }
      case MessageType.CommandAmf0:
        return this.onCommand(msg.payload);
      case MessageType.CommandAmf3:
        if (msg.payload.length < 1) throw new RtmpProtocolError('empty AMF3 command');
        return this.onCommand(msg.payload.subarray(1));
      default:
        // Set Chunk Size and Abort are applied by the reader; bandwidth, acknowledgements, data and media a server
        // might send us are of no use to a publisher.
        return;
    }
  }

  private onCommand(payload: Buffer): void {
    const cmd = decodeAmf0Command(payload, { maxExpandedBytes: 64 * 1024 });
    const info = statusInfo(cmd.name === 'onStatus' ? cmd.args[0] : cmd.args[0] ?? cmd.commandObject);
    switch (cmd.name) {
      case '_result':
        if (cmd.transactionId === TXN.connect && this.stateValue === 'connecting') {
          this.stateValue = 'creating';
          this.command(0, 'releaseStream', TXN.releaseStream, null, this.target.name);
          this.command(0, 'FCPublish', TXN.FCPublish, null, this.target.name);
          this.command(0, 'createStream', TXN.createStream, null);
        } else if (cmd.transactionId === TXN.createStream && this.stateValue === 'creating') {
          const id = cmd.args[0];
          if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 0xffffffff) {
            this.refuse('createStream answered without a valid stream id');
            return;
          }
          this.streamId = id;
          this.stateValue = 'publishing';
          this.command(id, 'publish', TXN.publish, null, this.target.name, 'live');
        }
        return;
      case '_error':
        // releaseStream and FCPublish are optional: servers that do not know them may say so.
        if (cmd.transactionId === TXN.releaseStream || cmd.transactionId === TXN.FCPublish) return;
        this.refuse(`${cmd.transactionId === TXN.connect ? 'connect' : cmd.transactionId === TXN.createStream ? 'createStream' : 'call'} refused: ${this.describe(info)}`);
        return;
      case 'onStatus': {
        if (info.code === 'NetStream.Publish.Start') {
          if (this.stateValue === 'publishing') {
            this.stateValue = 'live';
            this.hooks.published();
          }
          return;
        }
        if (info.level === 'error' || /^NetStream\.Publish\.(BadName|Denied|Failed|Rejected)|^NetConnection\.Connect\.(Closed|Rejected|Failed)/.test(info.code)) {
          this.refuse(`${this.stateValue === 'live' ? 'stopped by the target' : 'publish refused'}: ${this.describe(info)}`);
        }
        return;
      }
      case 'onFCPublish': {
        if (/^NetStream\.Publish\.(BadName|Denied|Failed|Rejected)/.test(info.code)) this.refuse(`publish refused: ${this.describe(info)}`);
        return;
      }
      default:
        // onBWDone, _checkbw, onFCUnpublish ...: nothing to do.
        return;
    }
  }
}

interface StatusInfo {
  level: string;
  code: string;
  description: string;
}

function statusInfo(v: Amf0Value | undefined): StatusInfo {
  const o = v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Amf0EcmaArray) ? (v as Amf0Object) : {};
  const str = (x: Amf0Value | undefined) => (typeof x === 'string' ? x : '');
  return { level: str(o.level), code: str(o.code), description: str(o.description) };
}

/** The server's reason, as it gave it, safe for logs and the API. */
function describe(info: StatusInfo): string {
  const code = info.code ? peerText(info.code) : 'no code';
  return info.description ? `${code} (${peerText(info.description, 160)})` : code;
}
