/**
 * Cuts one stream's packets into LL-HLS segments and parts (CMAF fMP4).
 *
 * - A segment starts at a video keyframe once the current one has reached the segment target; without a keyframe
 *   (an intra-refresh encoder sends one at the start only) it is cut at a part boundary once it is too long
 *   (`maxSegmentMs`) or too big, and the next one starts on a frame that is not a keyframe (its first part has no
 *   INDEPENDENT=YES).
 * - A part closes as soon as the frame that ends it has arrived: when a video frame arrives whose
 *   successor would push the part past the part target, the part [start, this frame) is written.
 * - Audio samples go into whichever part is open when they arrive; each track keeps its own
 *   continuous timeline (tfdt), so parts need not align audio and video exactly.
 * - Without video (audio-only streams) parts and segments are cut on audio time.
 */
import { randomBytes } from 'node:crypto';
import type { MediaPacket } from '../codec/flv';
import { parseAsc, silentAacFrame } from './aac';
import { initSegment, mediaFragment } from './fmp4';
import { parseAvcC, parseSps } from './h264';
import type { AudioTrackInfo, Sample, VideoTrackInfo } from './types';

export const VIDEO_TIMESCALE = 90_000;
const VIDEO_TRACK_ID = 1;
const AUDIO_TRACK_ID = 2;
const AAC_FRAME = 1024;
/** A jump in timestamps larger than this (either way) starts a new timeline (EXT-X-DISCONTINUITY). */
const MAX_JUMP_MS = 10_000;
/**
 * Video waits (at most this much stream time) for the audio of the same moment, so that every part carries both
 * tracks: hls.js times a muxed stream on its audio, and treats a part with no audio as a gap (a 4 s stall).
 */
const AUDIO_WAIT_MS = 400;
/** The most frames, and bytes of frames, that wait for audio (video frames all with one timestamp never stop waiting). */
const MAX_VIDEO_QUEUE = 256;
const MAX_VIDEO_QUEUE_BYTES = 4 * 1024 * 1024;
/**
 * A part that collects more samples or bytes than this is written out, whatever its duration (bounded memory whatever
 * the input: video frames that all carry the same timestamp never reach the part target).
 */
const MAX_PART_SAMPLES = 2000;
const MAX_PART_BYTES = 4 * 1024 * 1024;
/**
 * A segment is cut at the next part boundary, keyframe or not, once it is this long (at least; see `maxSegmentMs`)
 * or holds this many bytes, or twice as many parts as its longest duration should have.
 */
const MIN_MAX_SEGMENT_MS = 20_000;
export const MAX_SEGMENT_BYTES = 8 * 1024 * 1024;

/**
 * The most bytes of complete segments one stream keeps in memory: past it the oldest go, down to MIN_KEPT_SEGMENTS
 * (so with 8 MiB segments a stream holds at most ~32 MiB, plus the open part). Ordinary streams never reach it
 * (10 segments of 2 s at 8 Mbit/s are 20 MiB); one that sends huge frames or no keyframes gets a shorter window
 * instead of hundreds of MiB.
 */
export const MAX_KEPT_BYTES = 24 * 1024 * 1024;
const MIN_KEPT_SEGMENTS = 3;

/**
 * Where an AAC frame goes on the audio track's timeline (in its sample rate), given where the previous frame ended.
 * The timeline is kept gap-free, because a hole in the audio is a hole in what MSE counts as buffered, and a player
 * stalls on it. FLV's millisecond timestamps jitter, and an encoder's timestamps drift slowly against its sample
 * count, so:
 * - within 2 frames of the expected place: placed right after the previous frame;
 * - later than that, by up to a second: `fill` frames of silence go first (whole frames: browsers count an AAC frame
 *   as 1024 samples whatever the container says, so a stretched frame would still leave a hole), and the frame
 *   lands within a frame of its own time;
 * - earlier than that, by up to a second: dropped (it would overlap audio already written);
 * - further off either way: a new start, placed at its own timestamp.
 * Returns null when the frame is dropped.
 */
export function placeAudioFrame(exact: number, next: number | null, timescale: number): { dts: number; fill: number } | null {
  if (next === null) return { dts: exact, fill: 0 };
  const drift = exact - next;
  if (Math.abs(drift) <= AAC_FRAME * 2) return { dts: next, fill: 0 };
  if (drift > 0 && drift <= timescale) {
    const fill = Math.floor(drift / AAC_FRAME);
    return { dts: next + fill * AAC_FRAME, fill };
  }
  if (drift < 0 && drift >= -timescale) return null;
  return { dts: exact, fill: 0 };
}

export interface Part {
  msn: number;
  index: number;
  /** Seconds. */
  duration: number;
  independent: boolean;
  data: Buffer;
}

export interface Segment {
  msn: number;
  parts: Part[];
  /** Seconds; final once `complete`. */
  duration: number;
  complete: boolean;
  /** Wall-clock ms of the segment's first frame. */
  programDateTime: number;
  discontinuity: boolean;
  /** Which init segment (EXT-X-MAP) this segment needs. */
  initVersion: number;
  /** Stream time (ms) of the first sample. */
  startDts: number;
}

export interface SegmenterOptions {
  /** Seconds. */
  segmentTarget: number;
  /** Seconds. */
  partTarget: number;
  /** Segments kept in memory (the playlist shows a few less). */
  keepSegments: number;
  /**
   * Wall-clock ms a segment's last part waits, at least, after the part before it was published (default 0: none).
   * Frames come in bursts (a browser's MediaRecorder chunks, an encoder's output), so the frames that close a part
   * and the keyframe that ends the segment often arrive together, and a short last part would be published a few ms
   * after the part before it. hls.js then receives the playlist that completes the segment before it has appended
   * the part before, counts the segment as fully buffered (its buffer tracker allows 0.2 s of slack), never loads
   * the last part and stalls on that hole. Keeping the two apart by about a part target avoids it, at no cost to a
   * player that is, as LL-HLS asks, at least three parts behind the newest.
   */
  lastPartGapMs?: number;
}

interface Tracks {
  video?: VideoTrackInfo;
  audio?: AudioTrackInfo;
  videoKey: string;
  audioKey: string;
}

interface PendingVideo {
  dts: number;
  cts: number;
  keyframe: boolean;
  data: Buffer;
}

export class Segmenter {
  /** A token in every media URI, so a stream that restarts never reuses a cached name. */
  readonly run = randomBytes(4).toString('hex');
  readonly segments: Segment[] = [];
  init: Buffer | null = null;
  initVersion = -1;
  discontinuitySequence = 0;
  ended = false;
  /** Called after every new part and at the end. */
  onChange: () => void = () => undefined;
  /** Called when a segment is complete (its parts final), before the window may drop it; `init` is what it needs. */
  onSegment: (seg: Segment, init: Buffer) => void = () => undefined;

  private videoConfig: MediaPacket | null = null;
  private audioConfig: MediaPacket | null = null;
  private tracks: Tracks | null = null;
  private nextMsn = 0;
  private fragmentSeq = 1;
  private current: Segment | null = null;
  private partStart = 0; // ms
  private partVideo: Sample[] = [];
  private partAudio: Sample[] = [];
  private lastVideo: PendingVideo | null = null;
  private lastVideoInterval = 40; // ms, updated from the stream
  private audioNext: number | null = null; // next audio dts in audio timescale
  private lastAudioDts: number | null = null;
  /** Video packets waiting for audio to reach their time (see AUDIO_WAIT_MS). */
  private videoQueue: MediaPacket[] = [];
  private videoQueueBytes = 0;
  /** End (ms) of the newest audio packet seen. */
  private audioSeenMs: number | null = null;
  private needDiscontinuity = false;
  /** Wall clock anchor: wall ms = anchorWall + (dts - anchorDts); kept at the earliest arrival seen. */
  private anchor: { wall: number; dts: number } | null = null;
  private captured = false;
  /** Wall-clock ms of the newest part's publication (for `lastPartGapMs`). */
  private lastPartAt = 0;
  private holdTimer: NodeJS.Timeout | null = null;
  /** Payload bytes in the open part, and in the open segment's written parts. */
  private partBytes = 0;
  private segmentBytes = 0;
  /** The longest a segment gets without a keyframe (ms), and its most parts (see MIN_MAX_SEGMENT_MS). */
  readonly maxSegmentMs: number;
  private readonly maxSegmentParts: number;

  constructor(private readonly opts: SegmenterOptions) {
    this.maxSegmentMs = Math.max(MIN_MAX_SEGMENT_MS, 4 * opts.segmentTarget * 1000);
    this.maxSegmentParts = 2 * Math.ceil(this.maxSegmentMs / (opts.partTarget * 1000));
  }

  get mediaSequence(): number {
    return this.segments[0]?.msn ?? this.nextMsn;
  }

  /** The part the next one will be: what the preload hint names. */
  nextPart(): { msn: number; index: number } {
    if (this.current) return { msn: this.current.msn, index: this.current.parts.length };
    return { msn: this.nextMsn, index: 0 };
  }

  /** A new publish session begins (configs come as packets after this). */
  restart(): void {
    this.flush();
    // The timeline jumps over the gap: tell players.
    if (this.segments.length) this.needDiscontinuity = true;
    this.videoConfig = null;
    this.audioConfig = null;
    this.audioSeenMs = null;
    this.ended = false;
  }

  /** The publisher left (or the stream changes): write out everything we have, queued video included. */
  flush(): void {
    this.drainVideo(true);
    this.closeAll();
  }

  /** Ends the open part and segment with what has been cut so far. */
  private closeAll(): void {
    if (this.lastVideo) {
      this.pushVideoSample(this.lastVideo, this.lastVideoInterval);
      this.lastVideo = null;
    }
    const end = this.currentEnd();
    if (this.current && end !== null) this.closePart(end);
    this.closeSegment();
    this.audioNext = null;
  }

  /** Bytes of video frames waiting for the audio of their moment. */
  get queuedVideoBytes(): number {
    return this.videoQueueBytes;
  }

  /** Dropped without an end (server shutdown): no timer may fire afterwards. */
  dispose(): void {
    this.cancelHold();
    this.videoQueue.length = 0;
    this.videoQueueBytes = 0;
  }

  end(): void {
    this.flush();
    this.ended = true;
    this.onChange();
  }

  packet(p: MediaPacket): void {
    // Other codecs are relayed over RTMP but not packaged; empty bodies (AVC end of sequence) carry no sample.
    if (p.codec === 'other' || p.data.length === 0) return;
    if (p.config) {
      if (p.kind === 'video') this.videoConfig = p;
      else this.audioConfig = p;
      // A config that differs from what the init segment says: cut here and start anew.
      if (this.tracks) {
        const key = p.data.toString('base64');
        if ((p.kind === 'video' && key !== this.tracks.videoKey) || (p.kind === 'audio' && key !== this.tracks.audioKey)) {
          this.flush();
          this.tracks = null;
        }
      }
      return;
    }
    this.noteArrival(p);
    if (!this.tracks && !this.setupTracks(p)) return;
    const t = this.tracks!;
    if (p.kind === 'video') {
      if (!t.video) return;
      this.videoQueue.push(p);
      this.videoQueueBytes += p.data.length;
      this.drainVideo(false);
    } else {
      if (!t.audio) return;
      this.onAudio(p, t.audio);
      this.audioSeenMs = p.dts + (AAC_FRAME * 1000) / t.audio.sampleRate;
      this.drainVideo(false);
    }
  }

  /**
   * Hands queued video to the cutter once the audio has reached its time (so the part it closes holds that audio),
   * or at once when: forced, there is no audio track, no segment is open yet (the first keyframe), the audio lags
   * more than AUDIO_WAIT_MS (late or gone), or timestamps go backwards. A keyframe that would end the segment also
   * waits for `lastPartGapMs` (wall clock) after the previous part, unless forced or the queue is over its bounds.
   */
  private drainVideo(force: boolean): void {
    const q = this.videoQueue;
    if (force) this.cancelHold();
    while (q.length > 0) {
      const head = q[0];
      const newest = q[q.length - 1];
      const overdue =
        newest.dts - head.dts > AUDIO_WAIT_MS || newest.dts < head.dts || q.length > MAX_VIDEO_QUEUE || this.videoQueueBytes > MAX_VIDEO_QUEUE_BYTES;
      const go = force || overdue || !this.tracks?.audio || !this.current || (this.audioSeenMs !== null && this.audioSeenMs >= head.dts);
      if (!go) return;
      if (!force && !overdue && this.holdSegmentEnd(head)) return;
      q.shift();
      this.videoQueueBytes -= head.data.length;
      if (this.tracks?.video) this.onVideo(head);
    }
  }

  /** True (and a timer set to drain again) when this frame would end the segment too soon after the last part. */
  private holdSegmentEnd(p: MediaPacket): boolean {
    const gap = this.opts.lastPartGapMs ?? 0;
    if (gap <= 0 || !this.endsSegment(p)) return false;
    // A part that `p` ends early (endPartBeforeLate) is published now, so the segment's last part waits after it.
    this.endPartBeforeLate(p);
    const wait = this.lastPartAt + gap - Date.now();
    if (wait <= 0) return false;
    if (!this.holdTimer) {
      this.holdTimer = setTimeout(() => {
        this.holdTimer = null;
        this.drainVideo(false);
      }, wait);
      this.holdTimer.unref?.();
    }
    return true;
  }

  private cancelHold(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
  }

  private endsSegment(p: MediaPacket): boolean {
    return p.keyframe && this.current !== null && p.dts - this.current.startDts >= this.opts.segmentTarget * 1000 - this.lastVideoInterval / 2;
  }

  // ---- internals -------------------------------------------------------------------------

  private setupTracks(p: MediaPacket): boolean {
    // Start on a video keyframe when there is video; audio before it is dropped.
    const hasVideo = this.videoConfig !== null;
    if (hasVideo && !(p.kind === 'video' && p.keyframe)) return false;
    const tracks: Tracks = { videoKey: '', audioKey: '' };
    if (this.videoConfig) {
      try {
        const avc = parseAvcC(this.videoConfig.data);
        const sps = parseSps(avc.sps[0]);
        tracks.video = { codec: 'h264', avcC: this.videoConfig.data, width: sps.width, height: sps.height, timescale: VIDEO_TIMESCALE };
        tracks.videoKey = this.videoConfig.data.toString('base64');
      } catch {
        /* unusable config: no video track */
      }
    }
    if (this.audioConfig) {
      try {
        const asc = parseAsc(this.audioConfig.data);
        tracks.audio = { codec: 'aac', asc: this.audioConfig.data, sampleRate: asc.sampleRate, channels: asc.channels, timescale: asc.sampleRate };
        tracks.audioKey = this.audioConfig.data.toString('base64');
      } catch {
        /* unusable config: no audio track */
      }
    }
    if (!tracks.video && !tracks.audio) return false;
    if (tracks.video && !(p.kind === 'video' && p.keyframe)) return false;
    const prev = this.init;
    const init = initSegment({ video: tracks.video, audio: tracks.audio });
    this.init = init;
    if (!prev || !prev.equals(init)) {
      this.initVersion++;
      if (prev) this.needDiscontinuity = true;
    }
    this.tracks = tracks;
    this.audioNext = null;
    return true;
  }

  /** PDT comes from the capture time where the ingest knows it, else the earliest arrival seen. */
  private noteArrival(p: MediaPacket): void {
    const wall = p.captureTime ?? p.receivedAt;
    if (p.captureTime !== undefined && !this.captured) {
      this.captured = true;
      this.anchor = null;
    }
    if (!this.anchor || wall - p.dts < this.anchor.wall - this.anchor.dts) this.anchor = { wall, dts: p.dts };
  }

  private wallClock(dts: number): number {
    return this.anchor ? this.anchor.wall + (dts - this.anchor.dts) : Date.now();
  }

  private currentEnd(): number | null {
    if (!this.current) return null;
    const v = this.partVideo.at(-1);
    if (v) return (v.dts + v.duration) / 90;
    return this.partStart + this.audioDurationMs();
  }

  private audioDurationMs(): number {
    const a = this.tracks?.audio;
    if (!a || this.partAudio.length === 0) return 0;
    const first = this.partAudio[0];
    const last = this.partAudio[this.partAudio.length - 1];
    return ((last.dts + last.duration - first.dts) * 1000) / a.timescale;
  }

  private onVideo(p: MediaPacket): void {
    const prev = this.lastVideo;
    if (prev && (p.dts < prev.dts - MAX_JUMP_MS || p.dts > prev.dts + MAX_JUMP_MS)) {
      // The publisher's clock jumped: end what we have and start a new timeline at the next keyframe.
      this.timelineBreak();
      return this.onVideo(p);
    }
    const d = p.dts;
    const partTargetMs = this.opts.partTarget * 1000;
    if (prev) {
      let interval = p.dts - prev.dts;
      if (interval <= 0) interval = 1;
      if (interval < 1000) this.lastVideoInterval = interval;
      this.endPartBeforeLate(p);
      this.pushVideoSample(prev, interval);
    }
    if (p.keyframe && (!this.current || this.endsSegment(p))) {
      if (this.current) {
        this.closePart(d);
        this.closeSegment();
      }
      this.openSegment(d);
    } else if (this.current && this.partVideo.length > 0 && (this.partFull() || d + this.lastVideoInterval - this.partStart > partTargetMs + 1)) {
      this.closePart(d);
      if (this.segmentFull(d)) this.cutSegment(d);
    }
    this.lastVideo = { dts: d, cts: p.cts, keyframe: p.keyframe, data: p.data };
  }

  /**
   * `p` came later than the open part's estimate allowed for (a frame gap, jitter): the frame before it (still
   * pending), whose duration reaches `p`, would carry the part past the part target. End the part before that frame,
   * so that no part outgrows PART-TARGET (which would raise PART-TARGET, and with it PART-HOLD-BACK: every player's
   * start position) unless one frame alone is longer.
   */
  private endPartBeforeLate(p: MediaPacket): void {
    const prev = this.lastVideo;
    if (!prev || !this.current || this.partVideo.length === 0 || p.dts - this.partStart <= this.opts.partTarget * 1000 + 1) return;
    this.closePart(prev.dts);
    if (this.segmentFull(prev.dts)) this.cutSegment(prev.dts);
  }

  /** The open part holds as many samples or bytes as a part may. */
  private partFull(): boolean {
    return this.partVideo.length >= MAX_PART_SAMPLES || this.partAudio.length >= MAX_PART_SAMPLES || this.partBytes >= MAX_PART_BYTES;
  }

  /** The open segment (its parts written so far) is as long, or as big, as a segment may get without a keyframe. */
  private segmentFull(d: number): boolean {
    const seg = this.current;
    if (!seg) return false;
    return d - seg.startDts >= this.maxSegmentMs || seg.parts.length >= this.maxSegmentParts || this.segmentBytes >= MAX_SEGMENT_BYTES;
  }

  /** End the segment at a part boundary (`d`, where the open part starts) and start the next one there. */
  private cutSegment(d: number): void {
    this.closeSegment();
    this.openSegment(d);
  }

  private timelineBreak(): void {
    this.closeAll();
    this.needDiscontinuity = true;
  }

  private pushVideoSample(v: PendingVideo, intervalMs: number): void {
    if (!this.current) return;
    this.partBytes += v.data.length;
    this.partVideo.push({
      dts: Math.round(v.dts * 90),
      cts: Math.round(v.cts * 90),
      duration: Math.max(1, Math.round((v.dts + intervalMs) * 90) - Math.round(v.dts * 90)),
      keyframe: v.keyframe,
      data: v.data,
    });
  }

  private onAudio(p: MediaPacket, a: AudioTrackInfo): void {
    if (!this.tracks?.video && this.lastAudioDts !== null && Math.abs(p.dts - this.lastAudioDts) > MAX_JUMP_MS) this.timelineBreak();
    this.lastAudioDts = p.dts;
    const exact = Math.round((p.dts * a.timescale) / 1000);
    const placed = placeAudioFrame(exact, this.audioNext, a.timescale);
    if (!placed) return; // overlaps what is already written: dropped, the timeline stays continuous
    const { dts } = placed;
    this.audioNext = dts + AAC_FRAME;
    if (!this.tracks?.video) {
      const d = p.dts;
      const segTargetMs = this.opts.segmentTarget * 1000;
      const partTargetMs = this.opts.partTarget * 1000;
      const frameMs = (AAC_FRAME * 1000) / a.timescale;
      if (!this.current) this.openSegment(d);
      else if (d - this.current.startDts >= segTargetMs - frameMs / 2) {
        this.closePart(d);
        this.closeSegment();
        this.openSegment(d);
      } else if (this.partAudio.length > 0 && (this.partFull() || d + frameMs - this.partStart > partTargetMs + 1)) {
        this.closePart(d);
        if (this.segmentFull(d)) this.cutSegment(d);
      }
    }
    if (!this.current) return; // video streams: audio before the first keyframe is dropped
    // Silence (or, for a layout without a silent frame, this frame again) fills a gap, in whole frames.
    const filler = placed.fill > 0 ? (silentAacFrame(a.channels) ?? p.data) : null;
    for (let i = placed.fill; i > 0; i--) this.partAudio.push({ dts: dts - i * AAC_FRAME, cts: 0, duration: AAC_FRAME, keyframe: true, data: filler! });
    this.partAudio.push({ dts, cts: 0, duration: AAC_FRAME, keyframe: true, data: p.data });
    this.partBytes += p.data.length + placed.fill * (filler?.length ?? 0);
    // Audio alone (no video frame to close the part: video stopped, or an audio-only stream at one timestamp).
    if (this.partFull()) {
      this.closePart(p.dts);
      if (this.segmentFull(p.dts)) this.cutSegment(p.dts);
    }
  }

  private openSegment(startDts: number): void {
    this.current = {
      msn: this.nextMsn++,
      parts: [],
      duration: 0,
      complete: false,
      programDateTime: this.wallClock(startDts),
      discontinuity: this.needDiscontinuity,
      initVersion: this.initVersion,
      startDts,
    };
    this.needDiscontinuity = false;
    this.segments.push(this.current);
    this.partStart = startDts;
    this.segmentBytes = 0;
  }

  private closePart(endDts: number): void {
    const seg = this.current;
    if (!seg || (this.partVideo.length === 0 && this.partAudio.length === 0)) return;
    const trafs: Array<{ trackId: number; baseDecodeTime: number; samples: Sample[] }> = [];
    if (this.partVideo.length) trafs.push({ trackId: VIDEO_TRACK_ID, baseDecodeTime: this.partVideo[0].dts, samples: this.partVideo });
    if (this.partAudio.length) trafs.push({ trackId: AUDIO_TRACK_ID, baseDecodeTime: this.partAudio[0].dts, samples: this.partAudio });
    let data: Buffer;
    try {
      data = mediaFragment(this.fragmentSeq++, trafs);
    } catch {
      // Samples the fMP4 writer cannot express (absurd timestamps): drop them, never keep them around.
      this.partVideo = [];
      this.partAudio = [];
      this.partBytes = 0;
      this.partStart = endDts;
      this.needDiscontinuity = true;
      return;
    }
    const duration = Math.max(0.001, (endDts - this.partStart) / 1000);
    const independent = this.tracks?.video ? this.partVideo.length > 0 && this.partVideo[0].keyframe : true;
    seg.parts.push({ msn: seg.msn, index: seg.parts.length, duration, independent, data });
    seg.duration = (endDts - seg.startDts) / 1000;
    this.segmentBytes += data.length;
    this.partVideo = [];
    this.partAudio = [];
    this.partBytes = 0;
    this.partStart = endDts;
    this.lastPartAt = Date.now();
    this.onChange();
  }

  private closeSegment(): void {
    const seg = this.current;
    if (!seg) return;
    this.current = null;
    if (seg.parts.length === 0) {
      this.segments.pop();
      this.nextMsn--;
      return;
    }
    seg.complete = true;
    if (this.init) this.onSegment(seg, this.init);
    let kept = 0;
    for (const x of this.segments) for (const p of x.parts) kept += p.data.length;
    while (this.segments.length > this.opts.keepSegments || (kept > MAX_KEPT_BYTES && this.segments.length > MIN_KEPT_SEGMENTS)) {
      const gone = this.segments.shift()!;
      for (const p of gone.parts) kept -= p.data.length;
      if (gone.discontinuity) this.discontinuitySequence++;
    }
    this.onChange();
  }
}
