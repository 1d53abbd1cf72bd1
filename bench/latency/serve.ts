/**
 * Our server in its own process for the latency benchmark: startServer without the Next pages,
 * configured from the environment (PORT/RTMP_PORT default 0, HOST 127.0.0.1, DATA_DIR a fresh
 * temp dir, LOG_LEVEL warn). Prints `{"event":"ready","httpPort":…,"rtmpPort":…}` on stdout once
 * listening; SIGTERM/SIGINT close it.
 *
 * Instrumentation for the benchmark (no change to the server): a probe subscribes to every stream
 * that goes live and notes, per packet, `receivedAt - captureTime`: how old a frame is when it
 * reaches our RTMP relay (capture -> MediaRecorder -> WebSocket -> ffmpeg remux -> RTMP). A line
 * `probe` on stdin prints `{"event":"probe",...}` with those ages since the last `probe` line.
 *
 *   node --import tsx bench/latency/serve.ts
 */
import type { MediaPacket } from '../../server/codec/flv';
import { serveForBench } from '../server-lifecycle';

const { running, stop } = await serveForBench('golive-latency-', (r) => ({ ffmpeg: r.ffmpeg.found ? r.ffmpeg.version : null }));

const ages = {
  video: [] as number[],
  audio: [] as number[],
  videoGapsOver100: 0,
  maxVideoGap: 0,
  lastVideoDts: null as number | null,
  /** AAC frames are 21.3 ms at 48 kHz: a dts step over 50 ms is a hole in the audio timeline. */
  audioGapsOver50: 0,
  maxAudioGap: 0,
  lastAudioDts: null as number | null,
  /** Per track, the first and newest (dts, receivedAt) since the last probe: media ms per wall ms (1 = real time). */
  span: { video: null as null | { d0: number; w0: number; d1: number; w1: number }, audio: null as null | { d0: number; w0: number; d1: number; w1: number } },
};
const rate = (s: { d0: number; w0: number; d1: number; w1: number } | null) => (s && s.w1 > s.w0 ? (s.d1 - s.d0) / (s.w1 - s.w0) : null);
running.hub.events.on('publish', ({ id }) => {
  running.hub.subscribe(id, {
    kind: 'latency-probe',
    start: () => undefined,
    packet: (p: MediaPacket) => {
      if (p.config || p.captureTime === undefined) return;
      const list = p.kind === 'video' ? ages.video : ages.audio;
      if (list.length < 100_000) list.push(p.receivedAt - p.captureTime);
      const sp = ages.span[p.kind];
      if (!sp) ages.span[p.kind] = { d0: p.dts, w0: p.receivedAt, d1: p.dts, w1: p.receivedAt };
      else if (p.dts > sp.d1) Object.assign(sp, { d1: p.dts, w1: p.receivedAt });
      if (p.kind === 'video') {
        if (ages.lastVideoDts !== null) {
          const gap = p.dts - ages.lastVideoDts;
          if (gap > 100) ages.videoGapsOver100++;
          ages.maxVideoGap = Math.max(ages.maxVideoGap, gap);
        }
        ages.lastVideoDts = p.dts;
      } else {
        if (ages.lastAudioDts !== null) {
          const gap = p.dts - ages.lastAudioDts;
          if (gap > 50) ages.audioGapsOver50++;
          ages.maxAudioGap = Math.max(ages.maxAudioGap, gap);
        }
        ages.lastAudioDts = p.dts;
      }
    },
    unpublished: () => undefined,
    end: () => undefined,
    bufferedBytes: () => 0,
  });
});
let stdinBuf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d: string) => {
  stdinBuf += d;
  let nl: number;
  while ((nl = stdinBuf.indexOf('\n')) >= 0) {
    const line = stdinBuf.slice(0, nl).trim();
    stdinBuf = stdinBuf.slice(nl + 1);
    if (line === 'probe') {
      console.log(JSON.stringify({ event: 'probe', video: ages.video, audio: ages.audio, videoGapsOver100: ages.videoGapsOver100, maxVideoGapMs: ages.maxVideoGap, audioGapsOver50: ages.audioGapsOver50, maxAudioGapMs: ages.maxAudioGap, videoRate: rate(ages.span.video), audioRate: rate(ages.span.audio) }));
      ages.span.video = null;
      ages.span.audio = null;
      ages.video = [];
      ages.audio = [];
      ages.videoGapsOver100 = 0;
      ages.maxVideoGap = 0;
      ages.audioGapsOver50 = 0;
      ages.maxAudioGap = 0;
    }
  }
});

// If the benchmark dies, stdin closes: go too.
process.stdin.on('end', () => void stop());
process.stdin.resume();
