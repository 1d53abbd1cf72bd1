/**
 * fMP4 for realtime viewers, encoded once per stream: the init segment of a pair of codec configs, and one
 * `moof`+`mdat` per frame. Every viewer of the stream is handed the same Buffers (cached per MediaPacket), so the
 * cost of a fragment does not grow with the audience.
 *
 * A video frame is written when the next one arrives (the viewer holds it: `fragment(p, t, next)`), so its trun
 * duration is exact: an estimate that runs past the next frame's start makes Chromium's MSE drop frames (measured:
 * ~1 in 3 of a jittery browser-made stream never reached the decoder), and one under half the next interval is a
 * discontinuity that drops the rest of the GOP. Only a frame with no next (the publisher went away) gets the last
 * interval as its duration. Audio is kept on a gap-free timeline as for LL-HLS (`placeAudioFrame`: MSE stalls on
 * holes); its frames have fixed durations and are written as they arrive.
 */
import type { MediaPacket } from '../codec/flv';
import { parseAsc, silentAacFrame } from '../hls/aac';
import { AUDIO_TRACK_ID, initSegment, mediaFragment, VIDEO_TRACK_ID } from '../hls/fmp4';
import { parseAvcC, parseSps } from '../hls/h264';
import { placeAudioFrame, VIDEO_TIMESCALE } from '../hls/segmenter';
import type { AudioTrackInfo, Sample, VideoTrackInfo } from '../hls/types';

const AAC_FRAME = 1024;
/** A video frame's duration before the stream has shown its frame interval (ms). */
const DEFAULT_FRAME_MS = 33;

/** The tracks of one init segment, and its bytes. */
export interface RealtimeTracks {
  video?: VideoTrackInfo;
  audio?: AudioTrackInfo;
  /** The config packets it was made of (a config that differs from these needs a new init). */
  videoConfig: MediaPacket | null;
  audioConfig: MediaPacket | null;
  init: Buffer;
}

function videoTrack(cfg: MediaPacket | null): VideoTrackInfo | undefined {
  if (!cfg || cfg.codec !== 'h264') return undefined;
  try {
    const avc = parseAvcC(cfg.data);
    const sps = parseSps(avc.sps[0]);
    return { codec: 'h264', avcC: cfg.data, width: sps.width, height: sps.height, timescale: VIDEO_TIMESCALE };
  } catch {
    return undefined;
  }
}

function audioTrack(cfg: MediaPacket | null): AudioTrackInfo | undefined {
  if (!cfg || cfg.codec !== 'aac') return undefined;
  try {
    const asc = parseAsc(cfg.data);
    return { codec: 'aac', asc: cfg.data, sampleRate: asc.sampleRate, channels: asc.channels, timescale: asc.sampleRate };
  } catch {
    return undefined;
  }
}

/** Same codec config bytes (a publisher that reconnects sends equal configs in new packets)? */
export function sameConfig(a: MediaPacket | null, b: MediaPacket | null): boolean {
  if (a === b) return true;
  return a !== null && b !== null && a.data.equals(b.data);
}

export class FragmentEncoder {
  private readonly fragments = new WeakMap<MediaPacket, Buffer | null>();
  private last: RealtimeTracks | null = null;
  private seq = 1;
  private lastVideoDts: number | null = null;
  private frameMs = DEFAULT_FRAME_MS;
  private audioNext: number | null = null;
  /** Fragments encoded (for tests and diagnostics: once per packet, whatever the number of viewers). */
  encoded = 0;

  /** The tracks (and init segment) for these configs; null when neither is H.264 or AAC that we can read. */
  tracks(videoConfig: MediaPacket | null, audioConfig: MediaPacket | null): RealtimeTracks | null {
    const l = this.last;
    if (l && sameConfig(l.videoConfig, videoConfig) && sameConfig(l.audioConfig, audioConfig)) return l;
    const video = videoTrack(videoConfig);
    const audio = audioTrack(audioConfig);
    if (!video && !audio) return null;
    let init: Buffer;
    try {
      init = initSegment({ video, audio });
    } catch {
      return null;
    }
    this.last = { video, audio, videoConfig, audioConfig, init };
    return this.last;
  }

  /**
   * The fragment of one frame (the same Buffer for every viewer), or null when it carries nothing we can write. A
   * video frame's duration is up to `next` (the stream's next video frame), or the last interval without one; the
   * first viewer to ask decides it (viewers in sync all see the same next frame).
   */
  fragment(p: MediaPacket, t: RealtimeTracks, next: MediaPacket | null = null): Buffer | null {
    const cached = this.fragments.get(p);
    if (cached !== undefined) return cached;
    const out = this.encode(p, t, next);
    this.fragments.set(p, out);
    return out;
  }

  private encode(p: MediaPacket, t: RealtimeTracks, next: MediaPacket | null): Buffer | null {
    if (p.config || p.data.length === 0) return null;
    try {
      if (p.kind === 'video') {
        if (!t.video || p.codec !== 'h264') return null;
        const interval = next ? next.dts - p.dts : this.lastVideoDts !== null ? p.dts - this.lastVideoDts : 0;
        if (interval > 0 && interval < 1000) this.frameMs = interval;
        this.lastVideoDts = p.dts;
        const dts = Math.round(p.dts * 90);
        const duration = Math.max(1, Math.round((p.dts + this.frameMs) * 90) - dts);
        const sample: Sample = { dts, cts: Math.round(p.cts * 90), duration, keyframe: p.keyframe, data: p.data };
        this.encoded++;
        return mediaFragment(this.seq++, [{ trackId: VIDEO_TRACK_ID, baseDecodeTime: dts, samples: [sample] }]);
      }
      const a = t.audio;
      if (!a || p.codec !== 'aac') return null;
      const placed = placeAudioFrame(Math.round((p.dts * a.timescale) / 1000), this.audioNext, a.timescale);
      if (!placed) return null; // overlaps audio already written
      this.audioNext = placed.dts + AAC_FRAME;
      const samples: Sample[] = [];
      const filler = placed.fill > 0 ? (silentAacFrame(a.channels) ?? p.data) : null;
      for (let i = placed.fill; i > 0; i--) samples.push({ dts: placed.dts - i * AAC_FRAME, cts: 0, duration: AAC_FRAME, keyframe: true, data: filler! });
      samples.push({ dts: placed.dts, cts: 0, duration: AAC_FRAME, keyframe: true, data: p.data });
      this.encoded++;
      return mediaFragment(this.seq++, [{ trackId: AUDIO_TRACK_ID, baseDecodeTime: samples[0].dts, samples }]);
    } catch {
      // Timestamps the fMP4 writer cannot express (negative, absurd): the frame is not sent.
      return null;
    }
  }
}
