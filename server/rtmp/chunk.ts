/**
 * RTMP chunk stream (Adobe RTMP specification 1.0, section 5.3).
 *
 * ChunkReader turns the byte stream that follows the handshake into complete
 * messages; encodeMessage does the reverse for one message.
 *
 * Timestamp rules implemented by the reader:
 *  - fmt 0 carries an absolute timestamp; fmt 1/2 carry a delta that is added
 *    (mod 2^32) to the previous message's timestamp on the same chunk stream.
 *  - fmt 3 that continues a message carries no timestamp.
 *  - fmt 3 that STARTS a new message repeats length/type/stream id and reuses
 *    the "timestamp field" of the previous header on that chunk stream as its
 *    delta. After a fmt 1/2 header that is the previous delta (as the spec
 *    says); after a fmt 0 header it is the fmt 0 header's timestamp value
 *    itself. This is what ffmpeg's writer assumes (rtmppkt.c sends fmt 3 for a
 *    new message only when the new delta equals the previous ts_field, which
 *    after fmt 0 is the absolute timestamp) and what ffmpeg's and librtmp's
 *    readers compute. (nginx-rtmp instead uses 0 after fmt 0; no writer we know
 *    of depends on that.)
 *  - Extended timestamp: when the 24-bit field is 0xFFFFFF, a 4-byte field
 *    follows the message header with the real value. On a fmt 3 chunk that
 *    starts a new message after such a header the 4-byte field is present and
 *    its value is used as the delta (ffmpeg writes the new delta there). On a
 *    fmt 3 continuation chunk of such a message the 4-byte field is expected
 *    too (Flash Media Server, ffmpeg, current librtmp); for compatibility with
 *    older writers that omit it, the 4 bytes are only consumed when they equal
 *    the message's extended timestamp value, otherwise they are payload. (The
 *    reader therefore waits until 4 bytes are available after such a
 *    continuation header before deciding.)
 *
 * Protocol control messages that change parsing (1 Set Chunk Size, 2 Abort)
 * are applied by the reader immediately after they complete and are also
 * returned to the caller.
 */
import { RtmpProtocolError } from './errors';

export interface RtmpMessage {
  csid: number;
  type: number;
  streamId: number;
  /** uint32 milliseconds */
  timestamp: number;
  payload: Buffer;
}

export interface ChunkReaderLimits {
  /** Largest accepted message length in bytes (default 8 MiB). */
  maxMessageSize: number;
  /** Most distinct chunk stream ids a peer may use (default 64). */
  maxChunkStreams: number;
  /** Largest accepted Set Chunk Size value (default 16 MiB). */
  maxChunkSize?: number;
  /**
   * The caller reuses the memory of the Buffer it passes to push() once push() returns (a socket read buffer shared
   * by every read): then payloads are never views of it, single-chunk messages are copied too. Default false.
   */
  reusedInput?: boolean;
  /**
   * Largest accepted message of any type but audio, video and aggregate (commands, data such as metadata, control
   * messages); default 64 KiB. No client needs more (a connect from OBS is ~300 bytes), and command strings go no
   * further than this.
   */
  maxCommandSize?: number;
  /** Most bytes the assembly buffers of incomplete messages may hold at once (default: no limit). `setMaxAssemblyBytes` changes it. */
  maxAssemblyBytes?: number;
  /** A budget shared with other readers (e.g. every connection of a server): their assembly bytes together. */
  budget?: AssemblyBudget;
}

/** Assembly bytes of several readers together, and their limit. */
export interface AssemblyBudget {
  used: number;
  readonly max: number;
}

export const DEFAULT_CHUNK_SIZE = 128;
export const DEFAULT_MAX_MESSAGE_SIZE = 8 * 1024 * 1024;
export const DEFAULT_MAX_CHUNK_STREAMS = 64;
export const DEFAULT_MAX_CHUNK_SIZE = 16 * 1024 * 1024;
export const DEFAULT_MAX_COMMAND_SIZE = 64 * 1024;
export const MIN_CSID = 2;
export const MAX_CSID = 65599;

const TYPE_SET_CHUNK_SIZE = 1;
const TYPE_ABORT = 2;
const TYPE_AUDIO = 8;
const TYPE_VIDEO = 9;
const TYPE_AGGREGATE = 22;
/** basic header (3) + fmt 0 message header (11) + extended timestamp (4) */
const MAX_HEADER_SIZE = 18;
const EXTENDED = 0xffffff;
const EMPTY = Buffer.alloc(0);
/** Multi-chunk messages up to this size get their assembly buffer in one allocation... */
const EAGER_ALLOC = 64 * 1024;
/**
 * ...while the connection's assembly buffers stay under this in all (a publisher has two or three messages in
 * progress at once). Past it buffers grow with what has really arrived, so a peer that announces big messages on
 * many chunk streams and sends a byte of each costs about what it sent, not 64 KiB a stream.
 */
const EAGER_BUDGET = 256 * 1024;
/** First size of an assembly buffer that grows with what arrives. */
const GROW_FROM = 4096;

interface ChunkStreamState {
  csid: number;
  /** Timestamp of the last message started on this chunk stream. */
  timestamp: number;
  /** Full (extended if needed) timestamp field of the last header: the delta a new-message fmt 3 reuses. */
  tsField: number;
  /** The last header used the 0xFFFFFF marker. */
  extended: boolean;
  length: number;
  type: number;
  streamId: number;
  /** A message is partially received on this chunk stream. */
  inProgress: boolean;
  received: number;
  /** Assembly buffer of a multi-chunk message (grows with the bytes received, up to the message length). */
  buf: Buffer | null;
}

export class ChunkReader {
  private readonly maxMessageSize: number;
  private readonly maxChunkStreams: number;
  private readonly maxChunkSize: number;
  private readonly reusedInput: boolean;
  private readonly maxCommandSize: number;
  private maxAssembly: number;
  private readonly budget: AssemblyBudget | null;
  private readonly streams = new Map<number, ChunkStreamState>();
  private inChunkSize = DEFAULT_CHUNK_SIZE;
  private total = 0;
  /** Unparsed bytes of an incomplete chunk header (always < MAX_HEADER_SIZE bytes). */
  private pending: Buffer = EMPTY;
  /** Chunk stream whose chunk payload is being read, or null when a header is expected. */
  private current: ChunkStreamState | null = null;
  private chunkRemaining = 0;
  /** Bytes held in assembly buffers of messages in progress. */
  private assembling = 0;

  constructor(limits?: Partial<ChunkReaderLimits>) {
    this.maxMessageSize = limits?.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.maxChunkStreams = limits?.maxChunkStreams ?? DEFAULT_MAX_CHUNK_STREAMS;
    this.maxChunkSize = limits?.maxChunkSize ?? DEFAULT_MAX_CHUNK_SIZE;
    this.reusedInput = limits?.reusedInput ?? false;
    this.maxCommandSize = limits?.maxCommandSize ?? DEFAULT_MAX_COMMAND_SIZE;
    this.maxAssembly = limits?.maxAssemblyBytes ?? Infinity;
    this.budget = limits?.budget ?? null;
  }

  /** Changes the bound of `assemblingBytes` (e.g. higher once a connection may publish). Applies to what comes next. */
  setMaxAssemblyBytes(n: number): void {
    this.maxAssembly = n;
  }

  /** Releases every assembly buffer (the connection is gone): gives their bytes back to the shared budget. */
  dispose(): void {
    for (const cs of this.streams.values()) {
      this.release(cs);
      cs.inProgress = false;
    }
    this.current = null;
  }

  private account(delta: number): void {
    this.assembling += delta;
    if (this.budget !== null) this.budget.used += delta;
  }

  private fits(delta: number): boolean {
    return this.assembling + delta <= this.maxAssembly && (this.budget === null || this.budget.used + delta <= this.budget.max);
  }

  /** The peer's current chunk size (bytes of payload per incoming chunk). */
  get chunkSize(): number {
    return this.inChunkSize;
  }

  /** Total bytes passed to push() so far (not wrapped; reduce mod 2^32 for acknowledgements). */
  get bytesReceived(): number {
    return this.total;
  }

  /**
   * Feeds bytes from the peer; returns every message completed by them, in order.
   * Payloads of messages that arrive in one chunk within one push() are
   * subarrays of `data` (no copy), unless `reusedInput` was set; longer
   * messages get their own buffer. Nothing else of `data` is kept after the
   * call (an incomplete header is copied).
   */
  push(data: Buffer): RtmpMessage[] {
    this.total += data.length;
    const out: RtmpMessage[] = [];
    let pos = 0;

    if (this.pending.length > 0) {
      // Complete the header that straddles push() calls using a tiny scratch buffer.
      const had = this.pending.length;
      const scratch = Buffer.concat([this.pending, data.subarray(0, MAX_HEADER_SIZE - had)]);
      const used = this.parseHeader(scratch, 0, scratch.length, out);
      if (used < 0) {
        if (scratch.length >= MAX_HEADER_SIZE) throw new RtmpProtocolError('chunk header parse failed');
        this.pending = scratch; // scratch holds all of `data`
        return out;
      }
      this.pending = EMPTY;
      if (used >= had) {
        pos = used - had;
      } else {
        // Only after a continuation header whose 4 "extended timestamp" bytes
        // turned out to be payload: the rest of the old pending bytes come first.
        data = Buffer.concat([scratch.subarray(used, had), data]);
      }
    }

    const len = data.length;
    while (pos < len) {
      const cs = this.current;
      if (cs !== null) {
        // Chunk payload.
        const avail = len - pos;
        const remaining = this.chunkRemaining;
        if (cs.received === 0 && remaining === cs.length && avail >= remaining) {
          // Whole message in one chunk and fully present: no copy, unless `data`'s memory is about to be reused
          // (the payload may be kept for long: the hub's GOP cache).
          let payload: Buffer;
          if (this.reusedInput) {
            payload = Buffer.allocUnsafe(remaining);
            data.copy(payload, 0, pos, pos + remaining);
          } else payload = data.subarray(pos, pos + remaining);
          pos += remaining;
          this.current = null;
          this.chunkRemaining = 0;
          cs.inProgress = false;
          this.emit(cs, payload, out);
          continue;
        }
        const take = avail < remaining ? avail : remaining;
        let buf = cs.buf;
        // Messages up to EAGER_ALLOC bytes (every audio and nearly every video frame) get their whole
        // buffer at once, within EAGER_BUDGET per connection: one allocation, no copy. Others grow with
        // what has really arrived (doubling, capped at the message length), so a peer that announces huge
        // messages and sends little costs little memory.
        const need = cs.received + take;
        if (buf === null || buf.length < need) {
          const had = buf === null ? 0 : buf.length;
          const eager = buf === null && cs.length <= EAGER_ALLOC && this.assembling + cs.length <= EAGER_BUDGET;
          let size = eager ? cs.length : Math.min(cs.length, Math.max(need, buf === null ? GROW_FROM : buf.length * 2));
          if (!this.fits(size - had)) {
            // Near a limit: no more than what has arrived.
            size = need;
            if (!this.fits(size - had)) {
              throw new RtmpProtocolError(
                this.assembling + size - had > this.maxAssembly
                  ? `incomplete messages would hold ${this.assembling + size - had} bytes, over the limit of ${this.maxAssembly}`
                  : `incomplete messages of all connections would exceed the server's limit of ${this.budget?.max} bytes`,
              );
            }
          }
          const grown = Buffer.allocUnsafe(size);
          if (buf !== null) buf.copy(grown, 0, 0, cs.received);
          this.account(size - had);
          buf = grown;
          cs.buf = buf;
        }
        data.copy(buf, cs.received, pos, pos + take);
        pos += take;
        cs.received += take;
        this.chunkRemaining = remaining - take;
        if (this.chunkRemaining === 0) {
          this.current = null;
          if (cs.received === cs.length) {
            this.release(cs);
            cs.inProgress = false;
            this.emit(cs, buf, out);
          }
        }
        continue;
      }
      const used = this.parseHeader(data, pos, len, out);
      if (used < 0) {
        this.pending = Buffer.from(data.subarray(pos));
        break;
      }
      pos += used;
    }
    return out;
  }

  /**
   * Parses one chunk header at b[p..end). Returns the number of bytes used, or
   * -1 if more bytes are needed (in which case no state was changed). On
   * success either `current` is set to the chunk stream whose payload follows,
   * or (zero-length message) the message was emitted.
   */
  private parseHeader(b: Buffer, p: number, end: number, out: RtmpMessage[]): number {
    const avail = end - p;
    if (avail < 1) return -1;
    const b0 = b[p];
    const fmt = b0 >>> 6;
    let csid = b0 & 0x3f;
    let q = p + 1;
    if (csid === 0) {
      if (avail < 2) return -1;
      csid = b[p + 1] + 64;
      q = p + 2;
    } else if (csid === 1) {
      if (avail < 3) return -1;
      csid = b[p + 1] + b[p + 2] * 256 + 64;
      q = p + 3;
    }

    let cs = this.streams.get(csid);
    if (cs === undefined && fmt !== 0) {
      throw new RtmpProtocolError(`chunk fmt ${fmt} on chunk stream ${csid} that has no previous header`);
    }

    if (fmt === 3) {
      const st = cs as ChunkStreamState;
      if (st.inProgress) {
        // Continuation of the current message on this chunk stream.
        if (st.extended) {
          if (end - q < 4) return -1;
          if (b.readUInt32BE(q) === st.tsField) q += 4;
        }
        this.current = st;
        const left = st.length - st.received;
        this.chunkRemaining = left < this.inChunkSize ? left : this.inChunkSize;
        return q - p;
      }
      // New message with the previous header's length/type/stream id/delta.
      let delta = st.tsField;
      if (st.extended) {
        if (end - q < 4) return -1;
        delta = b.readUInt32BE(q);
        q += 4;
      }
      this.startMessage(st, (st.timestamp + delta) >>> 0, delta, st.extended, out);
      return q - p;
    }

    const hdrLen = fmt === 0 ? 11 : fmt === 1 ? 7 : 3;
    if (end - q < hdrLen) return -1;
    let ts = b.readUIntBE(q, 3);
    const extended = ts === EXTENDED;
    let length = 0;
    let type = 0;
    let streamId = 0;
    if (fmt <= 1) {
      length = b.readUIntBE(q + 3, 3);
      type = b[q + 6];
      if (fmt === 0) streamId = b.readUInt32LE(q + 7);
    }
    q += hdrLen;
    if (extended) {
      if (end - q < 4) return -1;
      ts = b.readUInt32BE(q);
      q += 4;
    }

    // The header is complete: validate, then commit.
    if (cs !== undefined && cs.inProgress) {
      throw new RtmpProtocolError(`chunk fmt ${fmt} on chunk stream ${csid} while a message is incomplete`);
    }
    if (fmt <= 1 && length > this.maxMessageSize) {
      throw new RtmpProtocolError(`message of ${length} bytes exceeds limit ${this.maxMessageSize}`);
    }
    if (fmt <= 1 && length > this.maxCommandSize && type !== TYPE_AUDIO && type !== TYPE_VIDEO && type !== TYPE_AGGREGATE) {
      throw new RtmpProtocolError(`message of type ${type} and ${length} bytes exceeds limit ${this.maxCommandSize}`);
    }
    if (cs === undefined) {
      if (this.streams.size >= this.maxChunkStreams) {
        throw new RtmpProtocolError(`more than ${this.maxChunkStreams} chunk streams`);
      }
      cs = {
        csid,
        timestamp: 0,
        tsField: 0,
        extended: false,
        length: 0,
        type: 0,
        streamId: 0,
        inProgress: false,
        received: 0,
        buf: null,
      };
      this.streams.set(csid, cs);
    }
    if (fmt <= 1) {
      cs.length = length;
      cs.type = type;
      if (fmt === 0) cs.streamId = streamId;
    }
    const timestamp = fmt === 0 ? ts : (cs.timestamp + ts) >>> 0;
    this.startMessage(cs, timestamp, ts, extended, out);
    return q - p;
  }

  private startMessage(
    cs: ChunkStreamState,
    timestamp: number,
    tsField: number,
    extended: boolean,
    out: RtmpMessage[],
  ): void {
    cs.timestamp = timestamp;
    cs.tsField = tsField;
    cs.extended = extended;
    cs.received = 0;
    this.release(cs);
    if (cs.length === 0) {
      cs.inProgress = false;
      this.current = null;
      this.chunkRemaining = 0;
      this.emit(cs, EMPTY, out);
      return;
    }
    cs.inProgress = true;
    this.current = cs;
    this.chunkRemaining = cs.length < this.inChunkSize ? cs.length : this.inChunkSize;
  }

  private release(cs: ChunkStreamState): void {
    if (cs.buf !== null) this.account(-cs.buf.length);
    cs.buf = null;
  }

  /** Bytes held in the assembly buffers of messages in progress (for tests and limits). */
  get assemblingBytes(): number {
    return this.assembling;
  }

  private emit(cs: ChunkStreamState, payload: Buffer, out: RtmpMessage[]): void {
    out.push({ csid: cs.csid, type: cs.type, streamId: cs.streamId, timestamp: cs.timestamp, payload });
    if (cs.type === TYPE_SET_CHUNK_SIZE) {
      if (payload.length < 4) throw new RtmpProtocolError('Set Chunk Size message shorter than 4 bytes');
      const size = payload.readUInt32BE(0);
      if (size === 0 || size > 0x7fffffff) throw new RtmpProtocolError(`invalid chunk size ${size}`);
      if (size > this.maxChunkSize) {
        throw new RtmpProtocolError(`chunk size ${size} exceeds limit ${this.maxChunkSize}`);
      }
      this.inChunkSize = size;
    } else if (cs.type === TYPE_ABORT) {
      if (payload.length < 4) throw new RtmpProtocolError('Abort message shorter than 4 bytes');
      const target = this.streams.get(payload.readUInt32BE(0));
      if (target !== undefined && target.inProgress) {
        target.inProgress = false;
        target.received = 0;
        this.release(target);
      }
    }
  }
}

function basicHeaderSize(csid: number): number {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

function writeBasicHeader(out: Buffer, pos: number, fmt: number, csid: number): number {
  if (csid < 64) {
    out[pos] = (fmt << 6) | csid;
    return pos + 1;
  }
  if (csid < 320) {
    out[pos] = fmt << 6;
    out[pos + 1] = csid - 64;
    return pos + 2;
  }
  const v = csid - 64;
  out[pos] = (fmt << 6) | 1;
  out[pos + 1] = v & 0xff;
  out[pos + 2] = v >>> 8;
  return pos + 3;
}

/**
 * Chunks one message: a fmt 0 header, then fmt 3 continuation headers every
 * `chunkSize` bytes of payload. Timestamps >= 0xFFFFFF use the extended field,
 * which is repeated on every continuation chunk. Timestamps wrap mod 2^32.
 */
export function encodeMessage(
  msg: { csid: number; type: number; streamId: number; timestamp: number; payload: Buffer },
  chunkSize: number,
): Buffer {
  const { csid, type, streamId, payload } = msg;
  if (!Number.isInteger(csid) || csid < MIN_CSID || csid > MAX_CSID) {
    throw new RtmpProtocolError(`invalid chunk stream id ${csid}`);
  }
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 0x7fffffff) {
    throw new RtmpProtocolError(`invalid chunk size ${chunkSize}`);
  }
  if (!Number.isInteger(type) || type < 0 || type > 0xff) throw new RtmpProtocolError(`invalid message type ${type}`);
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffffffff) {
    throw new RtmpProtocolError(`invalid message stream id ${streamId}`);
  }
  if (!Number.isInteger(msg.timestamp)) throw new RtmpProtocolError(`invalid timestamp ${msg.timestamp}`);
  const len = payload.length;
  if (len > 0xffffff) throw new RtmpProtocolError(`message of ${len} bytes is too long for RTMP`);

  const timestamp = msg.timestamp >>> 0;
  const extended = timestamp >= EXTENDED;
  const extLen = extended ? 4 : 0;
  const bh = basicHeaderSize(csid);
  const chunks = len === 0 ? 1 : Math.ceil(len / chunkSize);
  const out = Buffer.allocUnsafe(bh + 11 + extLen + len + (chunks - 1) * (bh + extLen));

  let pos = writeBasicHeader(out, 0, 0, csid);
  out.writeUIntBE(extended ? EXTENDED : timestamp, pos, 3);
  out.writeUIntBE(len, pos + 3, 3);
  out[pos + 6] = type;
  out.writeUInt32LE(streamId, pos + 7);
  pos += 11;
  if (extended) pos = out.writeUInt32BE(timestamp, pos);

  let off = 0;
  for (;;) {
    const n = len - off < chunkSize ? len - off : chunkSize;
    pos += payload.copy(out, pos, off, off + n);
    off += n;
    if (off >= len) break;
    pos = writeBasicHeader(out, pos, 3, csid);
    if (extended) pos = out.writeUInt32BE(timestamp, pos);
  }
  return out;
}

/**
 * The bytes of an encoded message (`encodeMessage`) as if it had been encoded for message stream `streamId`: a copy
 * of its first chunk header with the stream id changed, and a view of everything after it (continuation headers carry
 * no stream id). Lets many receivers on other stream ids share one encoding of a big message.
 */
export function withStreamId(encoded: Buffer, streamId: number): [Buffer, Buffer] {
  if (encoded.length < 12 || encoded[0] >>> 6 !== 0) throw new RtmpProtocolError('not an encoded message (fmt 0 first)');
  const low = encoded[0] & 0x3f;
  const basic = low === 0 ? 2 : low === 1 ? 3 : 1;
  const extended = encoded.readUIntBE(basic, 3) === EXTENDED;
  const end = basic + 11 + (extended ? 4 : 0);
  if (encoded.length < end) throw new RtmpProtocolError('truncated message header');
  const head = Buffer.from(encoded.subarray(0, end));
  head.writeUInt32LE(streamId >>> 0, basic + 7);
  return [head, encoded.subarray(end)];
}
