/**
 * Recording, wired: the index, crash repair at start, the recorder fed by the hub's events and the packager's
 * segments, retention (at start, after each recording, hourly) and the HTTP routes. app.ts makes one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Segment } from '../hls/segmenter';
import type { Access } from '../http/access';
import type { Hub } from '../media/hub';
import { TypedEmitter } from '../media/typed-emitter';
import type { Db } from '../store/db';
import { handleRecordings } from './http';
import { Recorder, type RecorderLog, type RecorderOptions } from './recorder';
import { repairRecordings } from './repair';
import { applyRetention } from './retention';
import { RecordingStore, type RecordingRow, type RecordingState } from './store';
import { Thumbnails, type TakeSnapshot } from './thumbnail';

/** A recording that ended and can be played (webhooks: `recording.ready`). */
export interface RecordingReady {
  rid: string;
  streamId: string;
  /** The stream's title when the broadcast started. */
  title: string;
  startedAt: string;
  endedAt: string;
  durationSeconds: number;
  bytes: number;
  /** Absolute with PUBLIC_URL, else paths on this server. */
  urls: { playlist: string; mp4: string; watch: string };
}

export interface RecordingServiceOptions {
  db: Db;
  hub: Hub;
  access: Access;
  /** RECORD: broadcasts are recorded unless their stream says otherwise. */
  enabled: boolean;
  /** Whether a new broadcast of this stream is recorded (its stream's setting, else `enabled`); asked at each publish. */
  recordFor?: (streamId: string) => boolean;
  dir: string;
  retentionMs: number;
  maxBytes: number;
  /** See RecorderOptions.minFreeBytes. */
  minFreeBytes: number;
  publicUrl: string | undefined;
  rtmpPort: () => number | null;
  log: RecorderLog;
  /** Tests: how files are opened (to inject write errors). */
  openFile?: RecorderOptions['openFile'];
  /** Tests: see RecorderOptions.retryMs. */
  retryMs?: number;
  /** A recording's thumbnail is taken this long after it starts, ms (default 3000). */
  thumbnailDelayMs?: number;
}

const SWEEP_MS = 3600_000;

export class RecordingService {
  readonly store: RecordingStore;
  readonly recorder: Recorder;
  readonly thumbnails: Thumbnails;
  private sweeping: Promise<void> | null = null;
  private again = false;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly offs: Array<() => void> = [];
  /** Per live broadcast: is it recorded (decided at its publish, kept through a reconnect within the grace period). */
  private readonly decided = new Map<string, boolean>();
  /** What recording does, for others (webhooks, metrics) to hear; recording knows nothing of them. */
  readonly events = new TypedEmitter<{ ready: RecordingReady }>();
  /** Bytes written to recordings since start (the index's, so what is playable). */
  bytesRecorded = 0;

  private constructor(private readonly opts: RecordingServiceOptions) {
    this.store = new RecordingStore(opts.db);
    this.thumbnails = new Thumbnails({ dir: opts.dir, store: this.store, log: opts.log, delayMs: opts.thumbnailDelayMs });
    this.recorder = new Recorder({
      dir: opts.dir,
      store: this.store,
      log: opts.log,
      openFile: opts.openFile,
      retryMs: opts.retryMs,
      minFreeBytes: opts.minFreeBytes,
      onStarted: (rid, streamId) => this.thumbnails.started(rid, streamId),
      onFinished: () => this.sweep(),
      onReady: (row) => this.events.emit('ready', this.ready(row)),
      onIndexed: (bytes) => (this.bytesRecorded += bytes),
    });
    this.offs.push(
      opts.hub.events.on('publish', ({ id, resumed }) => this.published(id, resumed)),
      opts.hub.events.on('end', ({ id }) => {
        this.decided.delete(id);
        this.recorder.ended(id);
      }),
    );
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  /** Make the directory, repair what a crash left open, then start (retention runs once now). */
  static async start(opts: RecordingServiceOptions): Promise<RecordingService> {
    await Recorder.prepareDir(opts.dir);
    const s = new RecordingService(opts);
    await repairRecordings(s.store, opts.dir, opts.log);
    s.sweep();
    return s;
  }

  private published(id: string, resumed: boolean): void {
    const before = this.decided.get(id);
    if (resumed && before !== undefined) {
      if (before) this.recorder.published(id, true);
      return;
    }
    const record = this.opts.recordFor ? this.opts.recordFor(id) : this.opts.enabled;
    this.decided.set(id, record);
    if (record) this.recorder.published(id, resumed);
    else this.recorder.ended(id); // a recording of an earlier broadcast still open ends
  }

  /** Whether this broadcast is being recorded. */
  recording(id: string): boolean {
    return this.decided.get(id) === true;
  }

  private ready(r: RecordingRow): RecordingReady {
    const origin = this.opts.publicUrl ?? '';
    const base = `${origin}/api/recordings/${r.id}`;
    return {
      rid: r.id,
      streamId: r.streamId,
      title: r.title ?? '',
      startedAt: new Date(r.startedAt).toISOString(),
      endedAt: new Date(r.endedAt ?? Date.now()).toISOString(),
      durationSeconds: Math.round(r.durationUs / 1000) / 1000,
      bytes: r.bytes,
      urls: { playlist: `${base}/index.m3u8`, mp4: `${base}/download.mp4`, watch: `${origin}/watch/${encodeURIComponent(r.streamId)}?recording=${r.id}` },
    };
  }

  /** Recordings by state, from the index (metrics). */
  countsByState(): Record<RecordingState, number> {
    return this.store.countsByState();
  }

  /** For HlsService: package recorded streams from publish to end. */
  keepPackaging = (id: string): boolean => this.recording(id);

  /** For HlsService: every complete segment. */
  segment = (id: string, run: string, seg: Segment, init: Buffer): void => {
    if (this.recording(id)) this.recorder.segment(id, run, seg, init);
  };

  /** Where recording thumbnails come from: the live directory's snapshots (app.ts). */
  setSnapshotSource(take: TakeSnapshot): void {
    this.thumbnails.setSource(take);
  }

  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    return handleRecordings(req, res, url, { store: this.store, recorder: this.recorder, access: this.opts.access, publicUrl: this.opts.publicUrl, rtmpPort: this.opts.rtmpPort });
  }

  /** Run retention (one pass at a time; a request meanwhile runs another after it). */
  sweep(): void {
    if (this.opts.retentionMs <= 0 && this.opts.maxBytes <= 0) return;
    if (this.sweeping) {
      this.again = true;
      return;
    }
    this.sweeping = (async () => {
      do {
        this.again = false;
        try {
          const gone = await applyRetention(this.store, this.recorder, { retentionMs: this.opts.retentionMs, maxBytes: this.opts.maxBytes });
          if (gone.length) this.opts.log.info({ count: gone.length }, `retention deleted ${gone.length} recordings`);
        } catch (err) {
          this.opts.log.error({ err }, 'recording retention failed');
        }
      } while (this.again);
      this.sweeping = null;
    })();
  }

  /** Retention done (tests). */
  async settled(): Promise<void> {
    while (this.sweeping) await this.sweeping;
  }

  /** The drain: every recording finished and indexed. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const off of this.offs) off();
    await this.thumbnails.close();
    await this.recorder.close();
    await this.settled();
  }
}
