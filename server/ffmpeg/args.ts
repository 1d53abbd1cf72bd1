/**
 * A typed builder for the ffmpeg command lines we run (no shell, no string concatenation).
 */

export type IngestInput = 'webm' | 'mp4';

export interface IngestArgs {
  input: IngestInput;
  /** Re-encode video with libx264 (VP8/VP9/unknown input) instead of copying H.264. */
  transcode: boolean;
  /** Where to push, e.g. rtmp://127.0.0.1:1935/live/<key>. */
  output: string;
  /** Target video bitrate for the transcode path, bits/s. */
  videoBitrate?: number;
  /** ffmpeg major version: a few options differ before 5. */
  ffmpegMajor?: number;
}

/** Arguments for one browser broadcast: MediaRecorder chunks on stdin -> FLV over RTMP, progress on stdout. */
/** Where the re-encoded audio starts (ms of stream time): later than any browser's first video frame. */
export const AUDIO_START_MS = 100;
/** aresample's first_pts (48 kHz samples) for AAC's first packet to land at AUDIO_START_MS (1024 samples of priming). */
const AUDIO_FIRST_PTS = (AUDIO_START_MS * 48000) / 1000 + 1024;

export function ingestArgs(o: IngestArgs): string[] {
  const args: string[] = ['-hide_banner', '-loglevel', 'error', '-nostats'];
  // Small probe: start as soon as the first cluster arrives. (+nobuffer would drop the first keyframe.)
  args.push('-analyzeduration', '0', '-probesize', '32768');
  args.push('-f', o.input === 'webm' ? 'matroska' : 'mp4', '-i', 'pipe:0');
  // Track order in the browser's file varies: map explicitly. Audio is optional.
  args.push('-map', '0:v:0?', '-map', '0:a:0?');
  if (o.transcode) {
    const rate = Math.round((o.videoBitrate ?? 2_500_000) / 1000);
    args.push(
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
      // VP8 from MediaRecorder has irregular timestamps: cap the rate and key on time, every second.
      '-r', '30', '-force_key_frames', 'expr:gte(t,n_forced*1)',
      '-b:v', `${rate}k`, '-maxrate', `${rate}k`, '-bufsize', `${rate * 2}k`,
    );
  } else {
    args.push('-c:v', 'copy');
  }
  // Send each packet at once: by default the FLV muxer holds video back up to 10 s to interleave it with the
  // re-encoded audio (measured ~50 ms of latency here). The relay does not need interleaved input.
  // But the FLV muxer refuses (and ffmpeg exits on) any packet older than the first one it wrote, and without
  // interleaving the first one is the first video frame (copied at once; audio lags in its encoder). A WebM whose
  // audio starts a little before its video (Opus pre-skip: -7 ms, plus AAC priming: -21 ms) killed the ingest at
  // once. So the audio, resampled to 48 kHz, is trimmed (or padded) to start at AUDIO_START_MS, after any real
  // stream's first frame.
  args.push('-af', `aresample=48000:first_pts=${AUDIO_FIRST_PTS}`, '-c:a', 'aac', '-b:a', '128k');
  args.push('-progress', 'pipe:1');
  args.push('-max_interleave_delta', '1');
  args.push('-f', 'flv', '-flvflags', 'no_duration_filesize', o.output);
  return args;
}

/** What `-progress` reports, one block at a time. */
export interface FfmpegProgress {
  frame: number;
  fps: number;
  bitrateKbps: number;
  totalSize: number;
  outTimeMs: number;
  speed: number;
  done: boolean;
}

/** Incremental parser for `-progress pipe:` output (key=value lines, a block ends at `progress=`). */
export class ProgressParser {
  private buf = '';
  private block: Record<string, string> = {};

  constructor(private readonly onProgress: (p: FfmpegProgress) => void) {}

  push(chunk: string): void {
    this.buf += chunk;
    if (this.buf.length > 64 * 1024) this.buf = this.buf.slice(-4096); // never grows without bound
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1);
      this.block[key] = value;
      if (key === 'progress') {
        this.onProgress(ProgressParser.toProgress(this.block));
        this.block = {};
      }
    }
  }

  static toProgress(b: Record<string, string>): FfmpegProgress {
    const num = (v: string | undefined) => {
      const n = Number.parseFloat(v ?? '');
      return Number.isFinite(n) ? n : 0;
    };
    const outUs = b.out_time_us ?? b.out_time_ms; // both are microseconds in ffmpeg
    return {
      frame: num(b.frame),
      fps: num(b.fps),
      bitrateKbps: num(b.bitrate), // "2512.3kbits/s"
      totalSize: num(b.total_size),
      outTimeMs: num(outUs) / 1000,
      speed: num(b.speed), // "1.01x"
      done: b.progress === 'end',
    };
  }
}
