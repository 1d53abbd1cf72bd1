/**
 * FLV tag bodies: the media payload format that RTMP and FLV share. Parsing them into
 * codec-level packets is the one place where the relay looks inside media bytes.
 */

export type PacketKind = 'video' | 'audio';
export type Codec = 'h264' | 'aac' | 'other';

export interface MediaPacket {
  kind: PacketKind;
  codec: Codec;
  /** Decode timestamp in ms on the stream's own timeline (monotonic, may exceed 2^32). */
  dts: number;
  /** Composition offset in ms (pts = dts + cts). */
  cts: number;
  /** Video: a keyframe (IDR). Audio: always true. */
  keyframe: boolean;
  /** A sequence header: AVCDecoderConfigurationRecord or AudioSpecificConfig. */
  config: boolean;
  /** Codec payload: AVCC (length-prefixed) NAL units, a raw AAC frame, or the config record. Shares memory with `flv`. */
  data: Buffer;
  /** The whole FLV tag body, as RTMP and FLV carry it. */
  flv: Buffer;
  /** Wall-clock ms at which the packet reached the server. */
  receivedAt: number;
  /** Wall-clock ms (server clock) at which the frame was captured, when the ingest knows it. */
  captureTime?: number;
}

export class MediaFormatError extends Error {
  override name = 'MediaFormatError';
}

const FLV_CODEC_AVC = 7;
const FLV_SOUND_AAC = 10;

/** Parse an FLV video tag body. Throws MediaFormatError when an AVC body is too short. */
export function parseVideoTag(body: Buffer, dts: number, receivedAt: number): MediaPacket {
  if (body.length < 1) throw new MediaFormatError('empty video message');
  const b0 = body[0];
  const exHeader = (b0 & 0x80) !== 0; // enhanced RTMP (HEVC, AV1, VP9 ...): relayed, not packaged
  const frameType = (b0 >> 4) & (exHeader ? 0x07 : 0x0f);
  const keyframe = frameType === 1;
  if (!exHeader && (b0 & 0x0f) === FLV_CODEC_AVC) {
    if (body.length < 5) throw new MediaFormatError(`AVC video message of ${body.length} bytes`);
    const packetType = body[1];
    let cts = body.readIntBE(2, 3);
    if (packetType !== 1) cts = 0;
    return {
      kind: 'video',
      codec: 'h264',
      dts,
      cts,
      keyframe: keyframe || packetType === 0,
      config: packetType === 0,
      data: body.subarray(5),
      flv: body,
      receivedAt,
    };
  }
  let config = false;
  if (exHeader && body.length >= 5) config = (b0 & 0x0f) === 0; // PacketTypeSequenceStart
  return { kind: 'video', codec: 'other', dts, cts: 0, keyframe, config, data: body.subarray(1), flv: body, receivedAt };
}

/** Parse an FLV audio tag body. */
export function parseAudioTag(body: Buffer, dts: number, receivedAt: number): MediaPacket {
  if (body.length < 1) throw new MediaFormatError('empty audio message');
  const format = body[0] >> 4;
  if (format === FLV_SOUND_AAC) {
    if (body.length < 2) throw new MediaFormatError('AAC audio message without packet type');
    const config = body[1] === 0;
    return { kind: 'audio', codec: 'aac', dts, cts: 0, keyframe: true, config, data: body.subarray(2), flv: body, receivedAt };
  }
  return { kind: 'audio', codec: 'other', dts, cts: 0, keyframe: true, config: false, data: body.subarray(1), flv: body, receivedAt };
}

/** Is this an AVC end-of-sequence message (packet type 2)? Players do not need them. */
export function isEndOfSequence(p: MediaPacket): boolean {
  return p.kind === 'video' && p.codec === 'h264' && p.flv.length >= 2 && p.flv[1] === 2;
}
