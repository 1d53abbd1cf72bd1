/** Inputs of the fMP4 writer (`fmp4.ts`). */

export interface VideoTrackInfo {
  codec: 'h264';
  /** AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), as carried in the FLV/RTMP AVC sequence header. */
  avcC: Buffer;
  /** Display size in pixels (after SPS cropping). */
  width: number;
  height: number;
  /** Track timescale; use 90000. */
  timescale: number;
}

export interface AudioTrackInfo {
  codec: 'aac';
  /** AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1), as carried in the FLV/RTMP AAC sequence header. */
  asc: Buffer;
  sampleRate: number;
  channels: number;
  /** Track timescale; equal to sampleRate. */
  timescale: number;
}

export interface Sample {
  /** Decode time in track timescale units. */
  dts: number;
  /** Composition offset pts - dts in track timescale units; may be negative. */
  cts: number;
  /** Duration in track timescale units. */
  duration: number;
  /** Video: sync sample (IDR). Audio: always true. */
  keyframe: boolean;
  /** AVCC length-prefixed NAL units (video) or one raw AAC frame (audio). */
  data: Buffer;
}

/** One track's samples for one movie fragment. */
export interface TrackFragment {
  /** 1 for video, 2 for audio (see VIDEO_TRACK_ID / AUDIO_TRACK_ID in fmp4.ts). */
  trackId: number;
  /** Decode time of samples[0] in track timescale units (written to tfdt). */
  baseDecodeTime: number;
  samples: Sample[];
}
