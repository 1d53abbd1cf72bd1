/**
 * Prometheus metrics (GET /metrics, text format 0.0.4). Everything is read at scrape time from counts the components
 * keep anyway (the hub, the RTMP listener, the LL-HLS service, the ingest); only the part-ready histogram is fed as
 * parts appear (HlsOptions.onPartReady). No protocol code knows about prom-client: this folder reads them.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StreamStats } from '../media/hub';
import type { RtmpServerStats } from '../rtmp/server';
import { LOOP_SAMPLE_MS } from '../http/health';

/** What the metrics read, at each scrape. */
export interface MetricsSources {
  /** Streams that are live or reconnecting. */
  activeStreams(): StreamStats[];
  /** Streams known to the registry (published or not). */
  registeredStreams(): number;
  /** Hub totals since the start. */
  hubTotals(): { bytesIn: number; packetsIn: number; dropped: number };
  rtmp(): RtmpServerStats;
  rtmpTraffic(): { bytesRead: number; bytesWritten: number };
  ingest(): { sockets: number; broadcasts: number; pending: number; ffmpeg: number };
  snapshotFfmpeg(): number;
  /** LL-HLS viewers of a stream (distinct clients in the last few seconds). */
  hlsViewers(id: string): number;
  /** Realtime (WebSocket fMP4) viewers of a stream. */
  realtimeViewers?(id: string): number;
  hlsHeldRequests(): number;
  hlsBytesOut(): number;
  hlsRequests(): number;
  /** Event-loop delay over the last ~10 s, ms. */
  eventLoop(): { p50Ms: number; p99Ms: number; maxMs: number };
  /** More collectors (webhooks ...): each gets the registry to add its metrics to. */
  extra?: Array<(registry: Registry) => void>;
}

/** Part-ready delay buckets, seconds: a part is normally ready within a frame interval or two of its last frame. */
const PART_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** A counter whose value lives elsewhere (a monotonic total): at each scrape it is moved up to that value. */
function mirroredCounter(registry: Registry, name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>): void {
  const last = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const [labels, value] of read()) {
        const key = JSON.stringify(labels);
        const prev = last.get(key) ?? 0;
        if (value > prev) this.inc(labels, value - prev);
        else if (prev === 0) this.inc(labels, 0);
        last.set(key, Math.max(prev, value));
      }
    },
  });
}

export class Metrics {
  readonly registry = new Registry();
  private readonly partReady: Histogram;
  private readonly tokenHash: Buffer | null;

  constructor(
    src: MetricsSources,
    opts: { token?: string } = {},
  ) {
    this.tokenHash = opts.token ? digest(opts.token) : null;
    const r = this.registry;
    // prom-client's event-loop lag keeps a histogram of its own: sampled as seldom as /healthz's (each sample wakes
    // the process; two at 20 ms were 100 wake-ups a second, issue #18).
    collectDefaultMetrics({ register: r, eventLoopMonitoringPrecision: LOOP_SAMPLE_MS });

    new Gauge({
      name: 'golive_streams',
      help: 'Streams by state: live, reconnecting (publisher gone, within the grace period), registered (all known streams)',
      labelNames: ['state'],
      registers: [r],
      collect() {
        const counts = { live: 0, reconnecting: 0 };
        for (const s of src.activeStreams()) if (s.state === 'live' || s.state === 'reconnecting') counts[s.state]++;
        this.set({ state: 'live' }, counts.live);
        this.set({ state: 'reconnecting' }, counts.reconnecting);
        this.set({ state: 'registered' }, src.registeredStreams());
      },
    });
    new Gauge({
      name: 'golive_publishers',
      help: 'Publishers connected, by kind: rtmp (outside RTMP clients), browser (accepted /ingest broadcasts)',
      labelNames: ['kind'],
      registers: [r],
      collect() {
        this.set({ kind: 'rtmp' }, src.rtmp().publishers);
        this.set({ kind: 'browser' }, src.ingest().broadcasts);
      },
    });
    new Gauge({
      name: 'golive_viewers',
      help: 'Viewers by protocol: rtmp (players connected), hls (distinct clients that fetched a playlist in the last few seconds), realtime (WebSocket viewers)',
      labelNames: ['protocol'],
      registers: [r],
      collect() {
        let rtmp = 0;
        let hls = 0;
        let realtime = 0;
        for (const s of src.activeStreams()) {
          rtmp += s.subscribers.rtmp ?? 0;
          hls += src.hlsViewers(s.id);
          realtime += src.realtimeViewers?.(s.id) ?? 0;
        }
        this.set({ protocol: 'rtmp' }, rtmp);
        this.set({ protocol: 'hls' }, hls);
        this.set({ protocol: 'realtime' }, realtime);
      },
    });
    mirroredCounter(r, 'golive_received_bytes_total', 'Bytes received: rtmp (RTMP sockets), media (audio/video payload into the hub, all publishers)', ['source'], () => [
      [{ source: 'rtmp' }, src.rtmpTraffic().bytesRead],
      [{ source: 'media' }, src.hubTotals().bytesIn],
    ]);
    mirroredCounter(r, 'golive_sent_bytes_total', 'Bytes sent: rtmp (RTMP sockets), hls (LL-HLS playlist and media bodies)', ['protocol'], () => [
      [{ protocol: 'rtmp' }, src.rtmpTraffic().bytesWritten],
      [{ protocol: 'hls' }, src.hlsBytesOut()],
    ]);
    mirroredCounter(r, 'golive_hls_requests_total', 'LL-HLS requests (/hls/) the server answered or held', [], () => [[{}, src.hlsRequests()]]);
    mirroredCounter(r, 'golive_media_packets_total', 'Audio/video packets into the hub, all publishers', [], () => [[{}, src.hubTotals().packetsIn]]);
    mirroredCounter(r, 'golive_dropped_packets_total', 'Packets a slow subscriber skipped (it waits for the next keyframe)', [], () => [[{}, src.hubTotals().dropped]]);
    new Gauge({
      name: 'golive_ffmpeg_processes',
      help: 'ffmpeg child processes running, by purpose: ingest (browser broadcasts), snapshot',
      labelNames: ['purpose'],
      registers: [r],
      collect() {
        this.set({ purpose: 'ingest' }, src.ingest().ffmpeg);
        this.set({ purpose: 'snapshot' }, src.snapshotFfmpeg());
      },
    });
    new Gauge({
      name: 'golive_ingest_sockets',
      help: 'Browser ingest WebSockets open, and of them those without an accepted start (pending)',
      labelNames: ['state'],
      registers: [r],
      collect() {
        const i = src.ingest();
        this.set({ state: 'open' }, i.sockets);
        this.set({ state: 'pending' }, i.pending);
      },
    });
    new Gauge({
      name: 'golive_rtmp_connections',
      help: 'RTMP connections by role (pending: not yet publishing or playing; internal: our own ingest ffmpeg)',
      labelNames: ['role'],
      registers: [r],
      collect() {
        const s = src.rtmp();
        this.set({ role: 'pending' }, s.pending);
        this.set({ role: 'player' }, s.players);
        this.set({ role: 'publisher' }, s.publishers);
        this.set({ role: 'internal' }, s.internal);
      },
    });
    new Gauge({
      name: 'golive_hls_held_requests',
      help: 'LL-HLS blocking requests (playlist reloads, hinted parts) held open now',
      registers: [r],
      collect() {
        this.set(src.hlsHeldRequests());
      },
    });
    this.partReady = new Histogram({
      name: 'golive_hls_part_ready_delay_seconds',
      help: 'From the arrival of the newest packet a part was cut from to the part being fetchable',
      buckets: PART_BUCKETS,
      registers: [r],
    });
    new Gauge({
      name: 'golive_event_loop_delay_seconds',
      help: 'Event-loop delay over the last ~10 s (the window /healthz judges), by quantile',
      labelNames: ['quantile'],
      registers: [r],
      collect() {
        const l = src.eventLoop();
        this.set({ quantile: '0.5' }, l.p50Ms / 1000);
        this.set({ quantile: '0.99' }, l.p99Ms / 1000);
        this.set({ quantile: '1' }, l.maxMs / 1000);
      },
    });
    for (const add of src.extra ?? []) add(r);
  }

  /** For HlsOptions.onPartReady. */
  readonly observePart = (delayMs: number): void => {
    this.partReady.observe(delayMs / 1000);
  };

  /** GET/HEAD /metrics: 401 without the right Bearer token when METRICS_TOKEN is set. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end('method not allowed\n');
      return;
    }
    if (this.tokenHash && !this.authorized(req.headers.authorization)) {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="metrics"', 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end('metrics need Authorization: Bearer <METRICS_TOKEN>\n');
      return;
    }
    const body = await this.registry.metrics();
    res.writeHead(200, { 'Content-Type': this.registry.contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private authorized(header: string | undefined): boolean {
    const m = /^Bearer ([\x21-\x7e]{1,1024})$/.exec(header ?? '');
    return m !== null && this.tokenHash !== null && timingSafeEqual(digest(m[1]), this.tokenHash);
  }

  close(): void {
    this.registry.clear();
  }
}

/** Webhook delivery: events by outcome, and the queue. */
export function webhooksMetrics(r: Registry, w: { counts: Record<'delivered' | 'failed' | 'dropped' | 'retried', number>; queued: number }): void {
  mirroredCounter(r, 'golive_webhook_events_total', 'Webhook events by outcome: delivered, failed (attempts used up), dropped (queue full), retried (attempts that failed and were retried)', ['result'], () =>
    (['delivered', 'failed', 'dropped', 'retried'] as const).map((k) => [{ result: k }, w.counts[k]]),
  );
  new Gauge({
    name: 'golive_webhook_queue',
    help: 'Webhook events waiting to be sent, all receivers',
    registers: [r],
    collect() {
      this.set(w.queued);
    },
  });
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Recordings (server/record): by state in the index, and bytes written since start. */
export function recordingMetrics(r: Registry, rec: { countsByState(): Record<'recording' | 'ended' | 'failed', number>; bytesRecorded: number }): void {
  new Gauge({
    name: 'golive_recordings',
    help: 'Recordings in the index by state: recording, ended, failed',
    labelNames: ['state'],
    registers: [r],
    collect() {
      for (const [state, n] of Object.entries(rec.countsByState())) this.set({ state }, n);
    },
  });
  mirroredCounter(r, 'golive_recorded_bytes_total', 'Bytes written to recordings and indexed, since start', [], () => [[{}, rec.bytesRecorded]]);
}

/** Forward targets (server/forward): running ones by state, and media bytes sent to them since start. */
export function forwardMetrics(r: Registry, fwd: { countsByState(): Record<'connecting' | 'live' | 'retrying' | 'failed', number>; bytesSent: number }): void {
  new Gauge({
    name: 'golive_forward_targets',
    help: 'Forward targets of live streams by state: connecting, live, retrying, failed (refused, retried later)',
    labelNames: ['state'],
    registers: [r],
    collect() {
      for (const [state, n] of Object.entries(fwd.countsByState())) this.set({ state }, n);
    },
  });
  mirroredCounter(r, 'golive_forward_sent_bytes_total', 'Media bytes (FLV tag bodies) sent to forward targets, since start', [], () => [[{}, fwd.bytesSent]]);
}
