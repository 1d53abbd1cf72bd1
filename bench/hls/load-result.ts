/**
 * The load generator's measurements, raw and summarised. viewer-load.ts collects a RawLoad (every
 * viewer's receive time of every part, its counters) and summarises it with summarizeLoad([raw]);
 * with --loadgens K, viewers.ts runs K load generators, each writing its RawLoad (--raw-out), and
 * summarises the K of them at once, exactly as if one process had measured all viewers: percentiles
 * over the union of the samples, and per part the fastest viewer across every process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { partKey, summarize, type Summary } from './common';

/** What one load generator process measured. Times are wall ms (the same clock in every process). */
export interface RawLoad {
  /** Viewers simulated by this process, numbered first .. first + viewers − 1. */
  viewers: number;
  first: number;
  client: string;
  window: { from: number; to: number };
  /**
   * Per part ("<msn>.<index>"): each of this process's viewers' time of the whole part (recv) and of
   * its response headers (ttfb). For a part this process first received before `from`, recv may hold
   * only that first time (and ttfb nothing): such a part never counts (the fastest copy across all
   * processes is before the window too), but the merge has to see that early copy.
   */
  parts: Record<string, { recv: number[]; ttfb: number[] }>;
  /** Per part: its end on the wall clock, from the first playlist that listed it. */
  partEnd: Record<string, number>;
  /** Counted over the window [from, to] (seconds: its measured length in this process). */
  inWindow: { seconds: number; requests: number; partsFetched: number; catchUp: number; playlists: number };
  /** Over the whole run. */
  errors: { connectionErrors: number; playlistNon200: number; status: Record<string, number>; connects: number };
  /** This process's own CPU (process.cpuUsage) and event-loop delay over the window. */
  loadgen: LoadgenSelf;
}

export interface LoadgenSelf {
  cpuPct: number;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
}

/** What the server probe (server-probe.ts) wrote, within the window. */
export interface ProbeData {
  /** Per part: when the server's segmenter created it (wall ms); every part in the file. */
  ready: Map<string, number>;
  /** Per part created within the window: part ready → next check phase (the synchronous fan-out). */
  bursts: number[];
  /** Per second of the window: the server's event-loop delay p99 and max. */
  lag: { p99: number[]; max: number[] };
  /**
   * 0.25 ms buckets → count: part ready → response written (R); for part requests sent after the
   * part was ready: ready → sent by the client (C), sent → handled by the server (Q), and handled →
   * written (S); blocking reloads: part ready → playlist written (P).
   */
  hist: Record<'R' | 'C' | 'Q' | 'S' | 'P', Map<number, number>>;
}

export interface LoadResult {
  viewers: number;
  client: string;
  window: { from: number; to: number; seconds: number };
  delays: {
    fromReady: Summary;
    fromReadyTtfb: Summary;
    late: Summary;
    abs: Summary;
    ttfbAbs: Summary;
    spread: Summary;
    viewersPerPart: Summary;
    bySecond: Array<{ p50: number; p99: number }>;
  };
  rates: { requestsPerSec: number; partsPerViewerPerSec: number; playlistsPerViewerPerSec: number; catchUpShare: number };
  errors: { connectionErrors: number; playlistNon200: number; status: Record<string, number>; connects: number };
  serverBurstMs: Summary;
  serverSentMs: Summary;
  serverPlaylistMs: Summary;
  serverLateRequestMs: { sent: Summary; queued: Summary; inServer: Summary };
  serverEventLoopMs: { p99OfSeconds: Summary; maxOfSeconds: Summary };
  /** cpuPct: the sum over the processes; loop delay: the largest of the processes'. */
  loadgen: LoadgenSelf & { processes?: Array<LoadgenSelf & { first: number; viewers: number }> };
}

const emptyProbe = (): ProbeData => ({ ready: new Map(), bursts: [], lag: { p99: [], max: [] }, hist: { R: new Map(), C: new Map(), Q: new Map(), S: new Map(), P: new Map() } });

/** Read the probe file written by server-probe.ts (none, or missing: no server-side figures). */
export function readProbe(file: string | undefined, from: number, to: number): ProbeData {
  const d = emptyProbe();
  if (!file || !existsSync(file)) return d;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'L') {
      const at = Number(f[1]);
      if (at > from && at <= to) {
        d.lag.p99.push(Number(f[3]));
        d.lag.max.push(Number(f[4]));
      }
    } else if (f[0] in d.hist) {
      const at = Number(f[1]);
      const h = d.hist[f[0] as keyof ProbeData['hist']];
      if (at > from && at <= to) {
        for (const bc of f.slice(2)) {
          const [b, c] = bc.split(':').map(Number);
          h.set(b, (h.get(b) ?? 0) + c);
        }
      }
    } else if (f.length >= 3) {
      d.ready.set(partKey(Number(f[0]), Number(f[1])), Number(f[2]));
      if (f.length >= 6 && Number(f[2]) > from && Number(f[2]) <= to) d.bursts.push(Number(f[5]));
    }
  }
  return d;
}

/**
 * One LoadResult from one or more load generators that ran the same window, each with its own
 * viewers: the result one process would have given for all of them. Throws if the windows differ
 * or the viewer ranges overlap.
 */
export function summarizeLoad(raws: RawLoad[], probe: ProbeData = emptyProbe()): LoadResult {
  if (raws.length === 0) throw new Error('summarizeLoad: no load generator results');
  const { from, to } = raws[0].window;
  if (raws.some((r) => r.window.from !== from || r.window.to !== to)) throw new Error('summarizeLoad: the load generators ran different windows');
  const ranges = raws.map((r) => [r.first, r.first + r.viewers] as const).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) if (ranges[i][0] < ranges[i - 1][1]) throw new Error('summarizeLoad: the load generators\' viewer numbers overlap');
  const N = raws.reduce((a, r) => a + r.viewers, 0);

  // Every process's copies of each part together, and each part's end from any process (every
  // playlist gives the same PDT-derived end).
  const parts = new Map<string, { recv: number[]; ttfb: number[] }>();
  const partEnd = new Map<string, number>();
  for (const r of raws) {
    for (const [key, p] of Object.entries(r.parts)) {
      const m = parts.get(key);
      if (!m) parts.set(key, { recv: [...p.recv], ttfb: [...p.ttfb] });
      else {
        for (const t of p.recv) m.recv.push(t);
        for (const t of p.ttfb) m.ttfb.push(t);
      }
    }
    for (const [key, end] of Object.entries(r.partEnd)) if (!partEnd.has(key)) partEnd.set(key, end);
  }

  const abs: number[] = [];
  const fromReady: number[] = [];
  const fromReadyTtfb: number[] = [];
  const late: number[] = [];
  const spread: number[] = [];
  const ttfbAbs: number[] = [];
  const perPartViewers: number[] = [];
  /** Per second of the window (by the part's first arrival): delay samples, to see whether it is steady. */
  const bySecond: number[][] = [];
  // The parts whose first copy (across every viewer of every process) arrived within the window, with every copy.
  for (const [key, rec] of parts) {
    const endWall = partEnd.get(key) ?? NaN;
    let first = Infinity;
    for (const t of rec.recv) if (t < first) first = t;
    if (first < from || first > to) continue;
    perPartViewers.push(rec.recv.length);
    const ready = probe.ready.get(key);
    if (ready !== undefined && Number.isFinite(endWall)) late.push(ready - endWall);
    for (const t of rec.recv) {
      spread.push(t - first);
      if (Number.isFinite(endWall)) abs.push(t - endWall);
      if (ready !== undefined) fromReady.push(t - ready);
      const sec = Math.floor((first - from) / 1000);
      (bySecond[sec] ??= []).push(ready !== undefined ? t - ready : t - endWall);
    }
    if (Number.isFinite(endWall)) for (const t of rec.ttfb) ttfbAbs.push(t - endWall);
    if (ready !== undefined) for (const t of rec.ttfb) fromReadyTtfb.push(t - ready);
  }

  const sum = (f: (r: RawLoad) => number) => raws.reduce((a, r) => a + f(r), 0);
  const status: Record<string, number> = {};
  for (const r of raws) for (const [k, v] of Object.entries(r.errors.status)) status[k] = (status[k] ?? 0) + v;
  const maxOf = (f: (l: LoadgenSelf) => number) => Math.max(...raws.map((r) => f(r.loadgen)));
  const partsFetched = sum((r) => r.inWindow.partsFetched);
  return {
    viewers: N,
    client: raws[0].client,
    window: { from, to, seconds: (to - from) / 1000 },
    delays: {
      fromReady: summarize(fromReady),
      fromReadyTtfb: summarize(fromReadyTtfb),
      late: summarize(late),
      abs: summarize(abs),
      ttfbAbs: summarize(ttfbAbs),
      spread: summarize(spread),
      viewersPerPart: summarize(perPartViewers),
      bySecond: [...bySecond].map((v) => {
        const x = summarize(v ?? []);
        return { p50: Math.round(x.p50 * 10) / 10, p99: Math.round(x.p99 * 10) / 10 };
      }),
    },
    // Each process's rate over its own measured window, added up.
    rates: {
      requestsPerSec: sum((r) => r.inWindow.requests / r.inWindow.seconds),
      partsPerViewerPerSec: sum((r) => r.inWindow.partsFetched / r.inWindow.seconds) / N,
      playlistsPerViewerPerSec: sum((r) => r.inWindow.playlists / r.inWindow.seconds) / N,
      /** Parts fetched once listed (all of them for --client hlsjs) rather than as the hint. */
      catchUpShare: sum((r) => r.inWindow.catchUp) / Math.max(1, partsFetched),
    },
    errors: {
      connectionErrors: sum((r) => r.errors.connectionErrors),
      playlistNon200: sum((r) => r.errors.playlistNon200),
      status,
      connects: sum((r) => r.errors.connects),
    },
    /** Per part (from server-probe.ts): part ready → next check phase, i.e. the synchronous fan-out burst. */
    serverBurstMs: summarize(probe.bursts),
    /** Per part response (from server-probe.ts): part ready → end() returned, i.e. the bytes are in the kernel. */
    serverSentMs: summarizeHistogram(probe.hist.R, 0.25),
    /** Per blocking reload answered with the part it waited for: part ready → playlist written. */
    serverPlaylistMs: summarizeHistogram(probe.hist.P, 0.25),
    /** Part requests sent after the part was ready: ready → sent (client), sent → handled (kernel + server queue), handled → written. */
    serverLateRequestMs: { sent: summarizeHistogram(probe.hist.C, 0.25), queued: summarizeHistogram(probe.hist.Q, 0.25), inServer: summarizeHistogram(probe.hist.S, 0.25) },
    /** The server's event-loop delay (from server-probe.ts): per-second p99 and max, summarised over the window. */
    serverEventLoopMs: { p99OfSeconds: summarize(probe.lag.p99), maxOfSeconds: summarize(probe.lag.max) },
    loadgen: {
      cpuPct: sum((r) => r.loadgen.cpuPct),
      eventLoopDelayMs: { p50: maxOf((l) => l.eventLoopDelayMs.p50), p99: maxOf((l) => l.eventLoopDelayMs.p99), max: maxOf((l) => l.eventLoopDelayMs.max) },
      ...(raws.length > 1 ? { processes: raws.map((r) => ({ first: r.first, viewers: r.viewers, ...r.loadgen })) } : {}),
    },
  };
}

/** Percentiles of a histogram of `width`-wide buckets (each value taken as its bucket's middle). */
export function summarizeHistogram(h: Map<number, number>, width: number): Summary {
  const buckets = [...h].sort((a, b) => a[0] - b[0]);
  const n = buckets.reduce((a, [, c]) => a + c, 0);
  const at = (q: number) => {
    const rank = Math.max(1, Math.ceil(q * n));
    let seen = 0;
    for (const [b, c] of buckets) {
      seen += c;
      if (seen >= rank) return (b + 0.5) * width;
    }
    return NaN;
  };
  const mean = buckets.reduce((a, [b, c]) => a + (b + 0.5) * width * c, 0) / Math.max(1, n);
  return { n, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: n ? (buckets[buckets.length - 1][0] + 0.5) * width : NaN, min: n ? (buckets[0][0] + 0.5) * width : NaN, mean };
}
