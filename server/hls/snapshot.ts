/**
 * Stream snapshots for the live directory: a JPEG of a live stream's newest keyframe, made by ffmpeg from what the
 * HLS packager already holds in memory (the init segment and the newest part that starts on a keyframe).
 *
 * Cheap by construction:
 * - one result per stream is kept for `cacheMs` (also a failure, so a broken stream does not cost an ffmpeg per
 *   request); a result made from the part that is still the newest keyframe part stays good past that;
 * - at most one ffmpeg per stream at a time (concurrent requests share it) and `maxConcurrent` in the whole server;
 *   when those are busy a request gets the stream's previous image if there is one, else waits for a slot (bounded);
 * - every ffmpeg is killed after `timeoutMs` or when it writes more than `maxBytes`, and by close();
 * - results of streams that ended are dropped.
 */
import { spawn as nodeSpawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { FfmpegInfo } from '../ffmpeg/locate';
import type { Hub } from '../media/hub';
import type { Part, Segmenter } from './segmenter';

export type SpawnFn = (command: string, args: string[]) => ChildProcessWithoutNullStreams;

export interface SnapshotOptions {
  ffmpeg: FfmpegInfo;
  /** Live state, codecs and `end` events of streams. */
  hub: Pick<Hub, 'stats' | 'events'>;
  /** The HLS packager (its segmenters hold the media). */
  /** `activate` (optional) starts an on-demand packager: a snapshot is a request for the stream's media. */
  hls: { segmenter(id: string): Segmenter | undefined; activate?(id: string): boolean };
  /** How long a result is reused, ms. */
  cacheMs?: number;
  /** An ffmpeg still running after this is killed, ms. */
  timeoutMs?: number;
  /** Most bytes of JPEG accepted from ffmpeg (it is killed beyond). */
  maxBytes?: number;
  /** Most snapshot ffmpegs running at once in the server. */
  maxConcurrent?: number;
  /** Width of the image in pixels (height follows the aspect ratio). */
  width?: number;
  /** How ffmpeg is started (tests count or replace it). */
  spawn?: SpawnFn;
  log?: { warn(obj: object, msg: string): void };
}

export type SnapshotResult =
  | { ok: true; jpeg: Buffer; takenAt: number; stale: boolean }
  /** 404: nothing to take a picture of (no such live stream, no keyframe yet, no ffmpeg); 503: ffmpeg failed. */
  | { ok: false; status: 404 | 503; reason: string };

interface CacheEntry {
  at: number;
  /** Which part it was made from: `run:msn.index`. */
  source: string;
  jpeg: Buffer | null;
  error: string | null;
}

interface Job {
  promise: Promise<SnapshotResult>;
  /** The stream ended (or the service closed) while it ran: its result is not kept. */
  dropped: boolean;
}

const DEFAULTS = { cacheMs: 10_000, timeoutMs: 5000, maxBytes: 2 * 1024 * 1024, maxConcurrent: 2, width: 480 };
const STDERR_TAIL = 2048;

const defaultSpawn: SpawnFn = (command, args) => nodeSpawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });

/** The ffmpeg arguments: fMP4 (init + one fragment) on stdin, one JPEG on stdout. Work with ffmpeg 4.1 and later. */
export function snapshotArgs(width: number): string[] {
  return [
    '-hide_banner', '-loglevel', 'error',
    '-threads', '1', // decode on one thread: a single frame, and benchmarks share the machine
    '-f', 'mp4', '-i', 'pipe:0',
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-frames:v', '1',
    '-vf', `scale=${width}:-2`,
    '-threads', '1',
    '-f', 'image2', '-c:v', 'mjpeg', '-q:v', '5',
    'pipe:1',
  ];
}

/** The newest part that starts on a keyframe, and the init segment it needs. */
function newestKeyframePart(seg: Segmenter): Part | null {
  for (let s = seg.segments.length - 1; s >= 0; s--) {
    const parts = seg.segments[s].parts;
    for (let p = parts.length - 1; p >= 0; p--) if (parts[p].independent) return parts[p];
  }
  return null;
}

/** find() without activating, for a live stream with video that is not being packaged (yet): a snapshot will start it. */
const NOT_PACKAGED = 'the stream is not packaged yet';

export class SnapshotService {
  private readonly opts: Required<Omit<SnapshotOptions, 'log'>> & Pick<SnapshotOptions, 'log'>;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly jobs = new Map<string, Job>();
  private readonly children = new Set<ChildProcessWithoutNullStreams>();
  private readonly slotWaiters: Array<(got: boolean) => void> = [];
  private readonly offs: Array<() => void> = [];
  private running = 0;
  private closed = false;
  /** ffmpeg processes started so far. */
  spawned = 0;

  constructor(options: SnapshotOptions) {
    this.opts = { ...DEFAULTS, spawn: defaultSpawn, ...options };
    this.offs.push(options.hub.events.on('end', ({ id }) => this.drop(id)));
  }

  /** ffmpeg processes running now. */
  get active(): number {
    return this.children.size;
  }

  /** Their process ids (for tests). */
  pids(): number[] {
    return [...this.children].map((c) => c.pid).filter((p): p is number => p !== undefined);
  }

  /** Whether a result is kept for this stream (for tests). */
  cached(id: string): boolean {
    return this.cache.has(id);
  }

  /**
   * Whether a request for this stream's snapshot would find something to show now (ffmpeg present, the stream live
   * with a keyframe, no failure cached): the directory only asks for images that exist, so a page shows no failed
   * image requests (a 404 for an <img> is an error in the browser's console).
   */
  available(id: string): boolean {
    if (this.closed || !this.opts.ffmpeg.found) return false;
    // Asking does not start an on-demand packager (the API lists streams often); taking a snapshot does.
    const found = this.find(id, false);
    if (typeof found === 'string' && found !== NOT_PACKAGED) return false;
    const entry = this.cache.get(id);
    return !entry || !!entry.jpeg || Date.now() - entry.at >= this.opts.cacheMs;
  }

  /** A JPEG of the stream's newest keyframe: from the cache, a running ffmpeg, or a new one. */
  get(id: string): Promise<SnapshotResult> {
    const now = Date.now();
    if (this.closed) return Promise.resolve({ ok: false, status: 503, reason: 'the server is stopping' });
    if (!this.opts.ffmpeg.found) return Promise.resolve({ ok: false, status: 404, reason: 'no ffmpeg on this server' });
    const found = this.find(id);
    if (typeof found === 'string') {
      this.drop(id);
      return Promise.resolve({ ok: false, status: 404, reason: found });
    }
    const entry = this.cache.get(id);
    if (entry && (now - entry.at < this.opts.cacheMs || entry.source === found.source)) return Promise.resolve(this.answer(entry, false));
    const job = this.jobs.get(id);
    if (job) return job.promise;
    // Everything busy: the previous image now rather than a wait.
    if (this.running >= this.opts.maxConcurrent && entry?.jpeg) return Promise.resolve(this.answer(entry, true));
    const fresh = { dropped: false } as Job;
    fresh.promise = this.take(id, fresh).finally(() => {
      if (this.jobs.get(id) === fresh) this.jobs.delete(id);
    });
    this.jobs.set(id, fresh);
    return fresh.promise;
  }

  /** Kill every snapshot ffmpeg and wait for them to exit; later requests get 503. */
  async close(): Promise<void> {
    this.closed = true;
    for (const off of this.offs.splice(0)) off();
    for (const w of this.slotWaiters.splice(0)) w(false);
    for (const job of this.jobs.values()) job.dropped = true;
    for (const child of this.children) child.kill('SIGKILL');
    await Promise.all([...this.jobs.values()].map((j) => j.promise));
    this.cache.clear();
  }

  private drop(id: string): void {
    this.cache.delete(id);
    const job = this.jobs.get(id);
    if (job) job.dropped = true;
  }

  private answer(entry: CacheEntry, stale: boolean): SnapshotResult {
    if (entry.jpeg) return { ok: true, jpeg: entry.jpeg, takenAt: entry.at, stale };
    return { ok: false, status: 503, reason: entry.error ?? 'snapshot failed' };
  }

  /** What to feed ffmpeg for this stream, or why there is nothing; `activate`: start an on-demand packager. */
  private find(id: string, activate = true): { init: Buffer; part: Part; source: string } | string {
    const stats = this.opts.hub.stats(id);
    if (!stats || stats.state !== 'live') return 'the stream is not live';
    if (!stats.video) return 'the stream has no video';
    const hls = this.opts.hls;
    if (activate) hls.activate?.(id);
    const seg = hls.segmenter(id);
    if (!seg && !activate && hls.activate) return NOT_PACKAGED;
    if (!seg || seg.ended || !seg.init) return 'the stream has no media yet';
    const part = newestKeyframePart(seg);
    if (!part) return 'the stream has no keyframe yet';
    return { init: seg.init, part, source: `${seg.run}:${part.msn}.${part.index}` };
  }

  private async take(id: string, job: Job): Promise<SnapshotResult> {
    if (!(await this.acquire())) return { ok: false, status: 503, reason: this.closed ? 'the server is stopping' : 'too many snapshots in progress' };
    try {
      // Read the media only now: after a wait for a slot, a newer keyframe may be there.
      const found = this.find(id);
      if (typeof found === 'string') return { ok: false, status: 404, reason: found };
      if (this.closed || job.dropped) return { ok: false, status: 503, reason: 'the stream ended' };
      const out = await this.run(found.init, found.part.data);
      const entry: CacheEntry = { at: Date.now(), source: found.source, jpeg: out.jpeg, error: out.error };
      if (!job.dropped && !this.closed) this.cache.set(id, entry);
      if (out.error) this.opts.log?.warn({ id, error: out.error }, 'snapshot failed');
      return this.answer(entry, false);
    } finally {
      this.release();
    }
  }

  /** A slot among `maxConcurrent`; false when none came free within `timeoutMs` (or the service closed). */
  private acquire(): Promise<boolean> {
    if (this.running < this.opts.maxConcurrent) {
      this.running++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter = (got: boolean) => {
        clearTimeout(timer);
        resolve(got);
      };
      const timer = setTimeout(() => {
        const i = this.slotWaiters.indexOf(waiter);
        if (i >= 0) this.slotWaiters.splice(i, 1);
        resolve(false);
      }, this.opts.timeoutMs);
      this.slotWaiters.push(waiter);
    });
  }

  private release(): void {
    const next = this.slotWaiters.shift();
    if (next) next(true); // the slot passes on: `running` stays
    else this.running--;
  }

  /** One ffmpeg: init + part in, a JPEG out; resolves once the process has exited. */
  private run(init: Buffer, data: Buffer): Promise<{ jpeg: Buffer | null; error: string | null }> {
    const ffmpeg = this.opts.ffmpeg;
    if (!ffmpeg.found) return Promise.resolve({ jpeg: null, error: 'no ffmpeg' });
    return new Promise((resolve) => {
      let child: ChildProcessWithoutNullStreams;
      try {
        child = this.opts.spawn(ffmpeg.path, snapshotArgs(this.opts.width));
      } catch (err) {
        resolve({ jpeg: null, error: `ffmpeg did not start: ${(err as Error).message}` });
        return;
      }
      this.spawned++;
      this.children.add(child);
      const out: Buffer[] = [];
      let size = 0;
      let stderr = '';
      let failure: string | null = null;
      let finished = false;
      const kill = (why: string) => {
        failure ??= why;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(() => kill(`ffmpeg took longer than ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.children.delete(child);
        const jpeg = Buffer.concat(out);
        if (!failure && this.closed) failure = 'the server is stopping';
        if (!failure && code !== 0) failure = `ffmpeg exited with ${code ?? signal}: ${stderr.trim().split('\n').pop() ?? ''}`;
        // A JPEG starts with SOI (FF D8).
        if (!failure && (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8)) failure = 'ffmpeg wrote no JPEG';
        resolve(failure ? { jpeg: null, error: failure } : { jpeg, error: null });
      };
      child.stdout.on('data', (d: Buffer) => {
        size += d.length;
        if (size > this.opts.maxBytes) kill(`ffmpeg wrote more than ${this.opts.maxBytes} bytes`);
        else out.push(d);
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-STDERR_TAIL);
      });
      child.on('error', (err) => {
        failure ??= `ffmpeg failed: ${err.message}`;
        // A process that never started emits no 'close' of its own on every Node version.
        if (child.pid === undefined) finish(null, null);
      });
      child.on('close', finish);
      // EPIPE when ffmpeg has stopped reading (done, or killed): reported through 'close'.
      child.stdin.on('error', () => undefined);
      child.stdin.write(init);
      child.stdin.end(data);
    });
  }
}
