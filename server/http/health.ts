import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { FfmpegInfo } from '../ffmpeg/locate';
import type { RtmpServerStats } from '../rtmp/server';

/** Counts of what the server holds now; each with its cap where it has one. */
export interface HealthCounts {
  httpConnections: number;
  rtmpConnections: number;
  rtmpMaxConnections: number;
  /** The RTMP listener's own counts (pending, players, publishers, internal, bytes waiting). */
  rtmp?: RtmpServerStats;
  liveStreams: number;
  ingest: { sockets: number; broadcasts: number; pending: number; ffmpeg: number; maxBroadcasts: number };
  snapshotFfmpeg: number;
  hlsHeldRequests: number;
  /** /realtime/<id> sockets (refused ones until they close) and subscribed viewers. */
  realtime?: { sockets: number; viewers: number };
}

export interface HealthInput {
  startedAt: number;
  httpPort: number;
  rtmpPort: number | null;
  ffmpeg: FfmpegInfo;
  loop?: EventLoopMonitor;
  counts?: HealthCounts;
  /** Above this event-loop delay p99 (ms) the report says 503. */
  maxEventLoopDelayMs?: number;
  memory?: NodeJS.MemoryUsage;
}

const MIB = 1024 * 1024;
const WINDOW_MS = 10_000;
/**
 * How often the histogram samples the loop. Each sample is a libuv timer waking the process: at 20 ms that was 50
 * wake-ups a second, ~0.35 % of a core on this machine for an idle process, a tenth of what one live stream costs
 * the origin (docs/BENCHMARKS.md, issue #18); at 50 ms it is 20 a second. A block of the loop still shows as a sample
 * of its length less at most one resolution (the timer was due somewhere in the block), far below the 503
 * threshold's default of 1000 ms.
 */
export const LOOP_SAMPLE_MS = 50;

/**
 * Event-loop delay over the last ~10 s (perf_hooks' histogram, sampled every LOOP_SAMPLE_MS): the current window, or
 * the last complete one when the current has just begun.
 */
export class EventLoopMonitor {
  private readonly h: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
  private last: { p50: number; p99: number; max: number } | null = null;
  private windowStart = Date.now();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor() {
    this.h.enable();
    this.timer = setInterval(() => this.roll(), WINDOW_MS);
    this.timer.unref();
  }

  private roll(): void {
    this.last = this.read();
    this.h.reset();
    this.windowStart = Date.now();
  }

  private read(): { p50: number; p99: number; max: number } {
    // The histogram is in ns; the resolution is part of every sample, so it is taken off.
    const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - LOOP_SAMPLE_MS) * 10) / 10);
    return this.h.count === 0 ? { p50: 0, p99: 0, max: 0 } : { p50: ms(this.h.percentile(50)), p99: ms(this.h.percentile(99)), max: ms(this.h.max) };
  }

  /** Delay stats in ms: the worse of the current window and the one before. */
  stats(): { p50Ms: number; p99Ms: number; maxMs: number; windowSeconds: number } {
    const cur = this.read();
    const prev = this.last ?? cur;
    return {
      p50Ms: Math.max(cur.p50, prev.p50),
      p99Ms: Math.max(cur.p99, prev.p99),
      maxMs: Math.max(cur.max, prev.max),
      windowSeconds: Math.round((Date.now() - this.windowStart + (this.last ? WINDOW_MS : 0)) / 1000),
    };
  }

  close(): void {
    clearInterval(this.timer);
    this.h.disable();
  }
}

/**
 * The body of GET /healthz, and its status: 503 when the event loop lags (the process itself is in trouble). A count
 * at its cap is reported in `atCapacity` with a 200: clients can fill a cap on purpose, and a health check that
 * fails then would let one client take the server out of a load balancer's rotation.
 */
export function healthReport(h: HealthInput) {
  const problems: string[] = [];
  const atCapacity: string[] = [];
  const loop = h.loop?.stats();
  if (loop && h.maxEventLoopDelayMs !== undefined && loop.p99Ms > h.maxEventLoopDelayMs) {
    problems.push(`event-loop delay p99 ${loop.p99Ms} ms is above HEALTH_MAX_EVENT_LOOP_DELAY_MS=${h.maxEventLoopDelayMs}`);
  }
  const c = h.counts;
  if (c && c.ingest.broadcasts >= c.ingest.maxBroadcasts) atCapacity.push(`browser broadcasts at INGEST_MAX_SESSIONS=${c.ingest.maxBroadcasts}`);
  if (c && c.rtmpConnections >= c.rtmpMaxConnections) atCapacity.push(`RTMP connections at RTMP_MAX_CONNECTIONS=${c.rtmpMaxConnections}`);
  const m = h.memory;
  const body = {
    status: problems.length ? ('overloaded' as const) : ('ok' as const),
    ...(problems.length ? { problems } : {}),
    ...(atCapacity.length ? { atCapacity } : {}),
    uptimeSeconds: Math.round((Date.now() - h.startedAt) / 1000),
    http: { port: h.httpPort, ...(c ? { connections: c.httpConnections } : {}) },
    rtmp: h.rtmpPort === null ? { listening: false } : { listening: true, port: h.rtmpPort, ...(c ? { ...c.rtmp, connections: c.rtmpConnections, maxConnections: c.rtmpMaxConnections } : {}) },
    ffmpeg: h.ffmpeg.found
      ? { found: true, path: h.ffmpeg.path, version: h.ffmpeg.version, source: h.ffmpeg.source }
      : { found: false, reason: h.ffmpeg.reason },
    ...(loop ? { eventLoopDelay: loop } : {}),
    ...(m ? { memory: { rssMiB: Math.round(m.rss / MIB), heapUsedMiB: Math.round(m.heapUsed / MIB), heapTotalMiB: Math.round(m.heapTotal / MIB), externalMiB: Math.round(m.external / MIB) } } : {}),
    ...(c
      ? {
          streams: { live: c.liveStreams },
          ingest: c.ingest,
          processes: { ffmpeg: c.ingest.ffmpeg + c.snapshotFfmpeg, ingestFfmpeg: c.ingest.ffmpeg, snapshotFfmpeg: c.snapshotFfmpeg },
          hls: { heldRequests: c.hlsHeldRequests },
          ...(c.realtime ? { realtime: c.realtime } : {}),
        }
      : {}),
  };
  return { status: problems.length ? 503 : 200, body };
}
