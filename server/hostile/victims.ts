/**
 * The legitimate clients every hostile test watches while an attack runs, and what "fine" means:
 *
 * - a publisher: ffmpeg pushing the test FLV over RTMP in real time (`-re`);
 * - an RTMP player (server/testing/rtmp-client.ts) of that stream;
 * - an LL-HLS viewer: blocking playlist reloads (`_HLS_msn`/`_HLS_part` of the next part) and a fetch of
 *   every new part, like hls.js;
 * - a `/healthz` probe every 500 ms;
 * - the server's RSS (from /proc: the server runs in a child process).
 *
 * Real time: each viewer's media timeline (RTMP timestamps; the playlist's PROGRAM-DATE-TIME plus the
 * durations after it) must advance with the wall clock. "Behind" is how much later than its best
 * moment (the smallest wall-minus-media offset seen since it warmed up) a viewer's newest media is;
 * a stall or a slowdown shows as growth. All victims connect from 127.0.0.1; attackers use other
 * loopback addresses (127.0.0.2 and up), as other clients would.
 */
import type { Proc } from '../testing/harness';
import { connectPlayer, type RtmpPlayer } from '../testing/rtmp-client';
import { loopPublisher } from '../testing/media';
import { rssBytes, type ServerProcess } from './server-process';

/** Bounds a victim must keep, during and after an attack. Generous: this runs on busy 2-core machines. */
export interface Bounds {
  /** A viewer may fall at most this far behind real time (ms). */
  maxBehindMs: number;
  /** `/healthz` must answer within this (ms). */
  maxHealthMs: number;
  /** Server RSS may grow at most this much over its value when the test began (bytes). */
  maxRssGrowth: number;
  /** And never exceed this (bytes). */
  maxRss: number;
}

const MiB = 1024 * 1024;

export const BOUNDS: Bounds = {
  maxBehindMs: Number(process.env.HOSTILE_MAX_BEHIND_MS ?? 3000),
  maxHealthMs: Number(process.env.HOSTILE_MAX_HEALTH_MS ?? 2000),
  maxRssGrowth: Number(process.env.HOSTILE_MAX_RSS_GROWTH_MB ?? 128) * MiB,
  maxRss: Number(process.env.HOSTILE_MAX_RSS_MB ?? 640) * MiB,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  t: number;
  playerBehind: number | null;
  hlsBehind: number | null;
  rss: number;
}

/** A running-minimum offset tracker: behind = offset − min offset (after warm-up). */
class Lag {
  private min = Infinity;
  private last: number | null = null;
  warmUntil = 0;
  update(offsetMs: number, now: number): void {
    this.last = offsetMs;
    if (now >= this.warmUntil && offsetMs < this.min) this.min = offsetMs;
  }
  /** How far behind its best the viewer is now (wall time since its last media counts). */
  behind(now: number, lastUpdate: number): number | null {
    if (this.last === null || !Number.isFinite(this.min)) return null;
    return this.last + (now - lastUpdate) - this.min;
  }
  reset(now: number, warmMs: number): void {
    this.min = Infinity;
    this.last = null;
    this.warmUntil = now + warmMs;
  }
}

/** An LL-HLS viewer: blocking playlist reloads and every new part, as hls.js in low-latency mode. */
export class HlsViewer {
  private stopped = false;
  private readonly lag = new Lag();
  private lastEdgeWall = 0;
  /** Media time (epoch ms) of the newest listed part's end. */
  edgeMs = 0;
  parts = 0;
  /** Hinted parts that were answered 404. */
  hintMisses = 0;
  playlists = 0;
  errors: Array<{ t: number; what: string }> = [];
  private loop: Promise<void>;

  constructor(private readonly http: string, private readonly id: string) {
    this.lag.reset(Date.now(), 3000);
    this.loop = this.run();
  }

  behind(now: number): number | null {
    return this.lag.behind(now, this.lastEdgeWall);
  }

  private async get(url: string, timeoutMs: number): Promise<{ status: number; body: Buffer }> {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, body };
  }

  private async fetchPart(uri: string, base: string, hinted: boolean): Promise<void> {
    try {
      const part = await this.get(new URL(uri, base).toString(), 10000);
      // A hinted part may legitimately never exist (the segment ended sooner): 404 for it is not an error.
      if (hinted && part.status === 404) this.hintMisses++;
      else if (part.status !== 200 || part.body.length === 0) this.errors.push({ t: Date.now(), what: `part: HTTP ${part.status}, ${part.body.length} bytes` });
      else this.parts++;
    } catch (err) {
      if (!this.stopped) this.errors.push({ t: Date.now(), what: `part: ${(err as Error).name === 'TimeoutError' ? 'no answer in 10 s' : (err as Error).message}` });
    }
  }

  /**
   * Each round: the blocking reload for the next part and, at the same time, the part the last playlist's
   * preload hint names (held by the server until it exists), as Safari and our watch page do.
   */
  private async run(): Promise<void> {
    const base = `${this.http}/hls/${this.id}/index.m3u8`;
    let next: { msn: number; part: number } | null = null;
    let want: { uri: string; hinted: boolean } | null = null;
    const fetched = new Set<string>();
    while (!this.stopped) {
      const url = next ? `${base}?_HLS_msn=${next.msn}&_HLS_part=${next.part}` : base;
      const partP = want && !fetched.has(want.uri) ? (fetched.add(want.uri), this.fetchPart(want.uri, base, want.hinted)) : Promise.resolve();
      if (fetched.size > 64) fetched.delete(fetched.values().next().value as string);
      let r: { status: number; body: Buffer } | null = null;
      try {
        r = await this.get(url, 10000);
      } catch (err) {
        if (!this.stopped) this.errors.push({ t: Date.now(), what: `playlist: ${(err as Error).name === 'TimeoutError' ? 'no answer in 10 s' : (err as Error).message}` });
      }
      await partP;
      if (this.stopped) return;
      if (!r || r.status !== 200) {
        // 404 before the packager has the stream is normal at the very start; everything else is counted.
        if (r && !(r.status === 404 && this.playlists === 0)) this.errors.push({ t: Date.now(), what: `playlist: HTTP ${r.status}` });
        next = null;
        want = null;
        await sleep(300);
        continue;
      }
      this.playlists++;
      const p = parsePlaylist(r.body.toString());
      if (!p) {
        next = null;
        await sleep(200);
        continue;
      }
      const now = Date.now();
      if (p.edgeMs > this.edgeMs) {
        this.edgeMs = p.edgeMs;
        this.lastEdgeWall = now;
        this.lag.update(now - p.edgeMs, now);
      }
      next = p.next;
      // The hinted part if there is one, else the newest listed part.
      want = p.hint ? { uri: p.hint, hinted: true } : p.lastPart ? { uri: p.lastPart, hinted: false } : null;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop.catch(() => undefined);
  }
}

/** The media edge of a playlist and the next part to block for. */
export function parsePlaylist(text: string): { edgeMs: number; next: { msn: number; part: number }; lastPart: string | null; hint: string | null } | null {
  const lines = text.split('\n');
  let msn = -1;
  let cur = NaN;
  let parts = 0;
  let partMs = 0;
  let lastPart: string | null = null;
  let hint: string | null = null;
  for (const line of lines) {
    if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) msn = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      cur = Date.parse(line.slice(25));
      partMs = 0;
    } else if (line.startsWith('#EXT-X-PART:')) {
      const d = /DURATION=([\d.]+)/.exec(line);
      const u = /URI="([^"]+)"/.exec(line);
      partMs += d ? Number(d[1]) * 1000 : 0;
      parts++;
      if (u) lastPart = u[1];
    } else if (line.startsWith('#EXT-X-PRELOAD-HINT:') && line.includes('TYPE=PART') && !line.includes('BYTERANGE')) {
      hint = /URI="([^"]+)"/.exec(line)?.[1] ?? null;
    } else if (line.startsWith('#EXTINF:')) {
      cur += Number(line.slice(8).split(',')[0]) * 1000;
      partMs = 0;
      parts = 0;
      msn++;
    }
  }
  if (msn < 0 || !Number.isFinite(cur)) return null;
  // msn counted one per completed segment from MEDIA-SEQUENCE: the open segment is `msn` now.
  return { edgeMs: cur + partMs, next: { msn, part: parts }, lastPart, hint };
}

/** Report of one window of time. */
export interface VictimReport {
  fromMs: number;
  toMs: number;
  serverAlive: boolean;
  maxPlayerBehindMs: number | null;
  maxHlsBehindMs: number | null;
  /** RTMP media time the player got in the window (ms). */
  playerAdvanceMs: number;
  hlsParts: number;
  hlsErrors: string[];
  playerClosed: string | null;
  healthChecks: number;
  maxHealthMs: number;
  healthFailures: string[];
  rssStart: number;
  maxRss: number;
}

export interface VictimsOptions {
  /** Start no RTMP publisher/player/HLS viewer (health and RSS only). */
  medialess?: boolean;
}

export class Victims {
  publisher: Proc | null = null;
  player: RtmpPlayer | null = null;
  hls: HlsViewer | null = null;
  stream: { id: string; key: string } = { id: '', key: '' };
  private samples: Sample[] = [];
  private health: Array<{ t: number; ms: number; error?: string }> = [];
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private stopped = false;
  private healthLoop: Promise<void> = Promise.resolve();
  private playerLag = new Lag();
  private playerLastWall = 0;
  private playerTsBase: number | null = null;
  private playerMediaMs = 0;
  private playerCloseReason: string | null = null;
  private playerClosedAt = 0;
  private playerAdvances: Array<{ t: number; mediaMs: number }> = [];

  private constructor(readonly server: ServerProcess) {}

  /** Start the victims and wait until each is playing in real time. */
  static async start(server: ServerProcess, opts: VictimsOptions = {}): Promise<Victims> {
    const v = new Victims(server);
    v.timers.push(setInterval(() => v.sample(), 250));
    v.healthLoop = v.probeHealth();
    if (!opts.medialess) {
      try {
        await v.startMedia();
      } catch (err) {
        await v.stop();
        throw err;
      }
    }
    return v;
  }

  private async startMedia(): Promise<void> {
    this.stream = await this.server.createStream('victim');
    this.publisher = await loopPublisher(`${this.server.rtmpUrl}/${this.stream.key}`);
    await waitUntil('the victim stream to go live', async () => {
      if (this.publisher && this.publisher.child.exitCode !== null) throw new Error(`victim publisher exited: ${this.publisher.stderr()}`);
      const r = await fetch(`${this.server.http}/api/streams/${this.stream.id}`).catch(() => null);
      if (!r || !r.ok) return false;
      const j = (await r.json()) as { live?: boolean; video?: unknown; audio?: unknown };
      return !!(j.live && j.video && j.audio);
    }, 20000);
    const player = await connectPlayer(`${this.server.rtmpUrl}/${this.stream.id}`, {
      onMessage: (m) => {
        if (m.type !== 8 && m.type !== 9) return;
        const now = Date.now();
        if (this.playerTsBase === null) this.playerTsBase = m.timestamp;
        const mediaMs = m.timestamp - this.playerTsBase;
        if (mediaMs > this.playerMediaMs) {
          this.playerMediaMs = mediaMs;
          this.playerLastWall = now;
          this.playerLag.update(now - mediaMs, now);
        }
      },
    });
    this.playerLag.reset(Date.now(), 3000);
    this.player = player;
    void player.closed.then((reason) => {
      if (this.stopped) return;
      this.playerCloseReason = reason;
      this.playerClosedAt = Date.now();
    });
    this.hls = new HlsViewer(this.server.http, this.stream.id);
    // Warm up: both viewers have media and a settled offset.
    await waitUntil('the victims to play', () => this.playerMediaMs > 3500 && (this.hls?.parts ?? 0) >= 5, 30000);
  }

  private sample(): void {
    const now = Date.now();
    const s: Sample = {
      t: now,
      playerBehind: this.player ? this.playerLag.behind(now, this.playerLastWall) : null,
      hlsBehind: this.hls ? this.hls.behind(now) : null,
      rss: rssBytes(this.server.pid),
    };
    this.samples.push(s);
    this.playerAdvances.push({ t: now, mediaMs: this.playerMediaMs });
    if (this.samples.length > 20000) {
      this.samples.splice(0, 10000);
      this.playerAdvances.splice(0, 10000);
    }
  }

  private async probeHealth(): Promise<void> {
    while (!this.stopped) {
      const t = Date.now();
      try {
        const r = await fetch(`${this.server.http}/healthz`, { signal: AbortSignal.timeout(10000) });
        await r.arrayBuffer();
        this.health.push({ t, ms: Date.now() - t, error: r.status === 200 ? undefined : `HTTP ${r.status}` });
      } catch (err) {
        if (this.stopped) return;
        this.health.push({ t, ms: Date.now() - t, error: (err as Error).name === 'TimeoutError' ? 'no answer in 10 s' : (err as Error).message });
      }
      if (this.health.length > 10000) this.health.splice(0, 5000);
      await sleep(500);
    }
  }

  /** What the victims saw from `fromMs` to now. */
  report(fromMs: number): VictimReport {
    const now = Date.now();
    this.sample();
    const win = this.samples.filter((s) => s.t >= fromMs);
    const max = (xs: Array<number | null>) => {
      const v = xs.filter((x): x is number => x !== null);
      return v.length ? Math.max(...v) : null;
    };
    const adv = this.playerAdvances.filter((a) => a.t >= fromMs);
    const before = [...this.playerAdvances].reverse().find((a) => a.t < fromMs) ?? adv[0];
    const health = this.health.filter((h) => h.t >= fromMs);
    return {
      fromMs,
      toMs: now,
      serverAlive: this.server.alive(),
      maxPlayerBehindMs: max(win.map((s) => s.playerBehind)),
      maxHlsBehindMs: max(win.map((s) => s.hlsBehind)),
      playerAdvanceMs: adv.length && before ? adv[adv.length - 1].mediaMs - before.mediaMs : 0,
      hlsParts: this.hls ? this.hlsPartsSince(fromMs) : 0,
      hlsErrors: this.hls ? this.hls.errors.filter((e) => e.t >= fromMs).map((e) => e.what) : [],
      playerClosed: this.playerCloseReason && this.playerClosedAt >= fromMs ? this.playerCloseReason : null,
      healthChecks: health.length,
      maxHealthMs: Math.max(0, ...health.map((h) => h.ms), this.pendingHealthMs(now)),
      healthFailures: health.filter((h) => h.error).map((h) => h.error!),
      rssStart: (win[0] ?? this.samples[this.samples.length - 1])?.rss ?? 0,
      maxRss: Math.max(0, ...win.map((s) => s.rss)),
    };
  }

  private partMarks: Array<{ t: number; parts: number }> = [];
  private hlsPartsSince(fromMs: number): number {
    // parts counter sampled alongside: the first mark at/after fromMs.
    const mark = this.partMarks.find((m) => m.t >= fromMs);
    return (this.hls?.parts ?? 0) - (mark?.parts ?? 0);
  }

  /** Mark the start of a window; returns its time. */
  mark(): number {
    const t = Date.now();
    this.partMarks.push({ t, parts: this.hls?.parts ?? 0 });
    if (this.partMarks.length > 1000) this.partMarks.splice(0, 500);
    return t;
  }

  private pendingHealthMs(now: number): number {
    // A probe still waiting counts for as long as it has waited.
    const last = this.health[this.health.length - 1];
    const sinceLast = last ? now - (last.t + last.ms) : 0;
    return sinceLast > 1500 ? sinceLast - 500 : 0;
  }

  /** Problems in a window, against the bounds; `after` windows also require progress. */
  problems(r: VictimReport, opts: { after?: boolean; bounds?: Bounds; serverExit?: boolean } = {}): string[] {
    const b = opts.bounds ?? BOUNDS;
    const out: string[] = [];
    const secs = ((r.toMs - r.fromMs) / 1000).toFixed(1);
    // A dead server explains everything else the victims saw.
    if (!r.serverAlive) return opts.serverExit === false ? [] : [this.server.describeExit()];
    if (r.playerClosed) out.push(`RTMP player was disconnected: ${r.playerClosed}`);
    if (this.player && r.maxPlayerBehindMs !== null && r.maxPlayerBehindMs > b.maxBehindMs) out.push(`RTMP player fell ${r.maxPlayerBehindMs} ms behind real time (bound ${b.maxBehindMs})`);
    if (this.hls && r.maxHlsBehindMs !== null && r.maxHlsBehindMs > b.maxBehindMs) out.push(`LL-HLS viewer fell ${r.maxHlsBehindMs} ms behind real time (bound ${b.maxBehindMs})`);
    if (this.hls && r.hlsErrors.length) out.push(`LL-HLS viewer got errors: ${summarize(r.hlsErrors)}`);
    if (r.maxHealthMs > b.maxHealthMs) out.push(`/healthz took ${r.maxHealthMs} ms (bound ${b.maxHealthMs})`);
    if (r.healthFailures.length) out.push(`/healthz failed: ${summarize(r.healthFailures)}`);
    if (r.maxRss > b.maxRss) out.push(`server RSS reached ${mb(r.maxRss)} (bound ${mb(b.maxRss)})`);
    if (r.maxRss - r.rssStart > b.maxRssGrowth) out.push(`server RSS grew ${mb(r.maxRss - r.rssStart)} in ${secs} s, from ${mb(r.rssStart)} (bound +${mb(b.maxRssGrowth)})`);
    if (opts.after && r.serverAlive) {
      const ms = r.toMs - r.fromMs;
      if (this.player && !this.playerCloseReason && r.playerAdvanceMs < ms * 0.4) out.push(`RTMP player got only ${r.playerAdvanceMs} ms of media in ${secs} s after the attack`);
      if (this.hls && r.hlsParts < 1) out.push(`LL-HLS viewer got no new part in ${secs} s after the attack`);
      if (r.healthChecks < 1) out.push(`/healthz did not answer in ${secs} s after the attack`);
    }
    return out;
  }

  /** One line for a test's log. */
  describe(r: VictimReport): string {
    const f = (x: number | null) => (x === null ? '-' : `${x} ms`);
    return `player behind ≤ ${f(r.maxPlayerBehindMs)}, LL-HLS behind ≤ ${f(r.maxHlsBehindMs)}, ${r.hlsParts} parts, healthz ≤ ${r.maxHealthMs} ms (${r.healthChecks}), RSS ${mb(r.rssStart)} → max ${mb(r.maxRss)}`;
  }

  /** Whether every victim is still connected and the server alive (else a test restarts them). */
  healthy(): boolean {
    if (!this.server.alive() || this.playerCloseReason) return false;
    if (this.publisher && this.publisher.child.exitCode !== null) return false;
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.hls?.stop();
    await this.player?.close();
    await this.publisher?.kill('SIGKILL');
    await this.healthLoop.catch(() => undefined);
  }
}

export function mb(bytes: number): string {
  return `${(bytes / MiB).toFixed(0)} MiB`;
}

function summarize(xs: string[]): string {
  const counts = new Map<string, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  return [...counts].slice(0, 5).map(([k, n]) => (n > 1 ? `${k} (x${n})` : k)).join('; ');
}

export async function waitUntil(what: string, fn: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      if (await fn()) return;
    } catch (err) {
      last = err;
      if ((err as Error).message.startsWith('victim publisher exited')) throw err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
