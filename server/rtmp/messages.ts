/**
 * RTMP message type ids, user control events, and payload builders/parsers
 * for protocol control messages (Adobe RTMP specification 1.0, sections 5.4
 * and 6.2) plus aggregate message splitting.
 */
import { RtmpProtocolError } from './errors';

export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const UserControlEvent = {
  StreamBegin: 0,
  StreamEOF: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
} as const;
export type UserControlEvent = (typeof UserControlEvent)[keyof typeof UserControlEvent];

/** Limit type of Set Peer Bandwidth. */
export const PeerBandwidthLimit = {
  Hard: 0,
  Soft: 1,
  Dynamic: 2,
} as const;
export type PeerBandwidthLimit = (typeof PeerBandwidthLimit)[keyof typeof PeerBandwidthLimit];

function checkUint32(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RtmpProtocolError(`invalid ${what}: ${n}`);
}

function uint32Payload(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** Set Chunk Size (type 1): 31-bit size, 1..0x7FFFFFFF. */
export function setChunkSize(n: number): Buffer {
  if (!Number.isInteger(n) || n < 1 || n > 0x7fffffff) throw new RtmpProtocolError(`invalid chunk size: ${n}`);
  return uint32Payload(n);
}

/** Abort Message (type 2) for a chunk stream id. */
export function abort(csid: number): Buffer {
  checkUint32(csid, 'chunk stream id');
  return uint32Payload(csid);
}

/** Acknowledgement (type 3): bytes received so far; wraps mod 2^32. */
export function acknowledgement(seq: number): Buffer {
  if (!Number.isInteger(seq) || seq < 0) throw new RtmpProtocolError(`invalid sequence number: ${seq}`);
  return uint32Payload(seq % 0x100000000);
}

/** Window Acknowledgement Size (type 5). */
export function windowAckSize(n: number): Buffer {
  checkUint32(n, 'window size');
  return uint32Payload(n);
}

/** Set Peer Bandwidth (type 6): window size + limit type (0 hard, 1 soft, 2 dynamic). */
export function setPeerBandwidth(n: number, limitType: number): Buffer {
  checkUint32(n, 'window size');
  if (!Number.isInteger(limitType) || limitType < 0 || limitType > 2) {
    throw new RtmpProtocolError(`invalid limit type: ${limitType}`);
  }
  const b = Buffer.allocUnsafe(5);
  b.writeUInt32BE(n, 0);
  b[4] = limitType;
  return b;
}

/** User Control Message (type 4): 16-bit event type followed by uint32 event data. */
export function userControl(event: number, ...args: number[]): Buffer {
  if (!Number.isInteger(event) || event < 0 || event > 0xffff) throw new RtmpProtocolError(`invalid event: ${event}`);
  const b = Buffer.allocUnsafe(2 + 4 * args.length);
  b.writeUInt16BE(event, 0);
  for (let i = 0; i < args.length; i++) {
    checkUint32(args[i], 'user control argument');
    b.writeUInt32BE(args[i], 2 + 4 * i);
  }
  return b;
}

export interface UserControl {
  event: number;
  /** First uint32 of event data (stream id, or the timestamp of ping events). */
  value: number;
  /** Second uint32 when present (buffer length of SetBufferLength). */
  extra?: number;
}

/** Parses a User Control Message payload; needs the event type and at least one uint32. */
export function parseUserControl(payload: Buffer): UserControl {
  if (payload.length < 6) throw new RtmpProtocolError(`user control message of ${payload.length} bytes is too short`);
  const result: UserControl = { event: payload.readUInt16BE(0), value: payload.readUInt32BE(2) };
  if (payload.length >= 10) result.extra = payload.readUInt32BE(6);
  return result;
}

/** First uint32 of a payload (Set Chunk Size, Abort, Acknowledgement, Window Ack Size, Set Peer Bandwidth). */
export function parseUint32(payload: Buffer): number {
  if (payload.length < 4) throw new RtmpProtocolError(`payload of ${payload.length} bytes is shorter than 4`);
  return payload.readUInt32BE(0);
}

export interface AggregatePart {
  type: number;
  /** Rebased: baseTimestamp + (this sub-message's timestamp - the first one's), mod 2^32. */
  timestamp: number;
  /** Stream id as written in the sub-message header (usually 0; callers normally use the aggregate's own). */
  streamId: number;
  /** Subarray of the aggregate payload (no copy). */
  payload: Buffer;
}

/**
 * Splits an Aggregate message (type 22) body: a sequence of FLV-tag-like
 * sub-messages, each an 11-byte header (type, 24-bit size, 24-bit timestamp +
 * 8 high bits, 24-bit stream id), the data, and a 4-byte back pointer. The back
 * pointer values are not checked, and the last one may be missing.
 */
export function splitAggregate(payload: Buffer, baseTimestamp: number): AggregatePart[] {
  const parts: AggregatePart[] = [];
  const end = payload.length;
  let pos = 0;
  let first = 0;
  while (pos < end) {
    if (end - pos < 11) throw new RtmpProtocolError('aggregate: truncated sub-message header');
    const type = payload[pos];
    const size = payload.readUIntBE(pos + 1, 3);
    const ts = (payload.readUIntBE(pos + 4, 3) | (payload[pos + 7] << 24)) >>> 0;
    const streamId = payload.readUIntBE(pos + 8, 3);
    pos += 11;
    if (end - pos < size) throw new RtmpProtocolError('aggregate: truncated sub-message body');
    const body = payload.subarray(pos, pos + size);
    pos += size;
    if (end - pos >= 4) pos += 4;
    else if (end - pos !== 0) throw new RtmpProtocolError('aggregate: truncated back pointer');
    if (parts.length === 0) first = ts;
    parts.push({ type, timestamp: (baseTimestamp + ts - first) >>> 0, streamId, payload: body });
  }
  return parts;
}
