/**
 * LL-HLS load generator: N simulated low-latency viewers of one stream, in their own process.
 * Started by viewers.ts; it can also be run by hand against a running server:
 *
 *   npx tsx bench/hls/viewer-load.ts --base http://127.0.0.1:8080 --id <stream id> --viewers 100 \
 *     [--first 0] [--ramp 10] [--from <wall ms>] [--to <wall ms>] [--out result.json] [--raw-out raw.json]
 *     [--client hint|hlsjs|mixed] [--probe-file parts.txt]
 *
 * Each viewer is a low-latency HLS player on two keep-alive HTTP/1.1 connections of its own (one for
 * playlists, one for media), with a minimal HTTP client on raw sockets so that the load generator
 * spends as little CPU as possible per request:
 *   - join: GET index.m3u8, the init segment and the newest part;
 *   - loop: blocking playlist reload `?_HLS_msn=M&_HLS_part=P` for the preload-hinted part (M,P);
 *     --client hint (default; our watch page, whose hls.js fetches the hint through
 *       app/watch/part-prefetch.ts; Safari/AVPlayer): at the same time a blocking request for the
 *       hinted part itself on the media connection, so the part comes in the same server turn as
 *       the playlist;
 *     --client hlsjs (stock hls.js 1.x, which parses the hint but does not fetch it): no part
 *       request until the playlist has come back and lists the part; then it is fetched (not blocked);
 *     --client mixed: odd viewers hlsjs, even viewers hint.
 *     When the playlist arrives, any listed part not fetched yet is fetched.
 * Per part and viewer it records the wall time at which the whole part was received. Only parts
 * received within [from, to] count. Delays reported:
 *   abs     receive time − the part's end on the wall clock, from the playlist: PROGRAM-DATE-TIME of
 *           its segment + the durations of the parts up to it. The server anchors PDT on the earliest
 *           relay arrival of the stream's packets, and a part closes when the frame at its end time
 *           arrives, so this is ≈ (closing-frame arrival jitter, ≥ 0) + server processing + HTTP.
 *   spread  receive time − the fastest viewer's receive time of the same part.
 *   ready   (with --probe-file, written by server-probe.ts in the server process) receive time − the
 *           moment the server's segmenter created the part: the server + HTTP delay proper.
 *   late    (with --probe-file) part created − its PDT-derived end: how late the closing frame came
 *           in (publisher pacing, relay), the part of `abs` the server does not control.
 * The result (JSON, a LoadResult of load-result.ts) goes to --out, or to stdout (not with --raw-out
 * alone). --raw-out writes what it is computed from (a RawLoad: every receive time per part, the
 * counters), so that viewers.ts can merge several load generators into one result (--loadgens K);
 * --first numbers this process's viewers (and their User-Agents) from F, to keep them distinct.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { log, parsePlaylist, partKey, sleep, wallNow, type ParsedPlaylist } from './common';
import { readProbe, summarizeLoad, type RawLoad } from './load-result';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    id: { type: 'string' },
    viewers: { type: 'string', default: '100' },
    first: { type: 'string', default: '0' },
    ramp: { type: 'string', default: '10' },
    from: { type: 'string' },
    to: { type: 'string' },
    seconds: { type: 'string', default: '30' },
    out: { type: 'string' },
    'raw-out': { type: 'string' },
    'probe-file': { type: 'string' },
    client: { type: 'string', default: 'hint' },
  },
});
if (!args.base || !args.id) throw new Error('--base and --id are required');
const base = new URL(args.base);
const id = args.id;
const N = Number(args.viewers);
const first = Number(args.first);
/** In log lines, when this is one of several load generators. */
const viewerRange = first > 0 || args['raw-out'] ? ` #${first}..${first + N - 1}` : '';
const rampMs = Number(args.ramp) * 1000;
const startedAt = wallNow();
const from = args.from ? Number(args.from) : startedAt + rampMs + 3000;
const to = args.to ? Number(args.to) : from + Number(args.seconds) * 1000;
const host = `${base.hostname}:${base.port}`;
const clientMode = args.client!;
if (!['hint', 'hlsjs', 'mixed'].includes(clientMode)) throw new Error(`--client ${clientMode}: hint, hlsjs or mixed`);

// ---- a minimal keep-alive HTTP/1.1 client --------------------------------------------------

interface Response {
  status: number;
  body: Buffer;
  head: number;
  done: number;
}

const counters = { requests: 0, responses: 0, errors: 0, status: new Map<number, number>(), reconnects: 0 };

const EMPTY = Buffer.alloc(0);
const READ_BUFFER = Buffer.alloc(256 * 1024);

interface Active {
  path: string;
  keep: boolean;
  resolve: (r: Response | null) => void;
  head: number;
  status: number;
  /** Body bytes still to come; -1 until the headers are in. */
  remaining: number;
  chunks: Buffer[];
}

/** One keep-alive connection, one request at a time (no pipelining). Bodies are kept only when asked. */
class Conn {
  private sock: net.Socket | null = null;
  private headBuf: Buffer = EMPTY;
  private queue: Array<{ path: string; keep: boolean; resolve: (r: Response | null) => void }> = [];
  private active: Active | null = null;
  private closed = false;

  constructor(private readonly ua: string) {}

  get(path: string, keep = true): Promise<Response | null> {
    return new Promise((resolve) => {
      this.queue.push({ path, keep, resolve });
      if (!this.active) this.next();
    });
  }

  close(): void {
    this.closed = true;
    this.sock?.destroy();
    for (const q of this.queue) q.resolve(null);
    this.queue = [];
    this.active?.resolve(null);
    this.active = null;
  }

  private connect(): net.Socket {
    // Read into one shared buffer (no allocation per read: media bodies are counted, not kept);
    // onData copies what it keeps before returning.
    const s = net.connect({
      host: base.hostname,
      port: Number(base.port),
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          this.onData(Buffer.from(buf.buffer, buf.byteOffset, n));
          return true;
        },
      },
    });
    s.setNoDelay(true);
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.sock !== s) return;
      this.sock = null;
      this.headBuf = EMPTY;
      if (this.active) {
        counters.errors++;
        const a = this.active;
        this.active = null;
        a.resolve(null);
        if (!this.closed) setImmediate(() => this.next());
      }
    });
    counters.reconnects++;
    return s;
  }

  private next(): void {
    if (this.closed || this.active) return;
    const q = this.queue.shift();
    if (!q) return;
    this.sock ??= this.connect();
    this.active = { ...q, head: 0, status: 0, remaining: -1, chunks: [] };
    counters.requests++;
    // X-Sent: when the request left (wall ms), for server-probe.ts to tell client time from server queueing.
    this.sock.write(`GET ${q.path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${this.ua}\r\nAccept: */*\r\nX-Sent: ${wallNow().toFixed(2)}\r\n\r\n`);
  }

  private onData(d: Buffer): void {
    const a = this.active;
    if (!a) return;
    if (a.remaining < 0) {
      const buf = this.headBuf.length ? Buffer.concat([this.headBuf, d]) : d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        this.headBuf = Buffer.from(buf); // a copy: `d` is the shared read buffer
        return;
      }
      this.headBuf = EMPTY;
      a.head = wallNow();
      const headText = buf.subarray(0, end).toString('latin1');
      a.status = Number(headText.slice(9, 12));
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(headText);
      a.remaining = m ? Number(m[1]) : 0;
      d = buf.subarray(end + 4);
    }
    const take = Math.min(d.length, a.remaining);
    if (a.keep && take > 0) a.chunks.push(Buffer.from(d.subarray(0, take))); // a copy, see connect()
    a.remaining -= take;
    if (a.remaining > 0) return;
    this.active = null;
    counters.responses++;
    counters.status.set(a.status, (counters.status.get(a.status) ?? 0) + 1);
    const body = a.chunks.length === 1 ? a.chunks[0] : a.chunks.length ? Buffer.concat(a.chunks) : EMPTY;
    a.resolve({ status: a.status, body, head: a.head, done: wallNow() });
    this.next();
  }
}

// ---- viewers ---------------------------------------------------------------------------------

/** Per part: every viewer's receive time (whole part) and response-headers time. */
const partTimes = new Map<string, { recv: number[]; ttfb: number[] }>();
/**
 * Per part: its end on the wall clock, from the first playlist that lists it. Kept apart from the
 * receive times because a viewer usually has the hinted part before the playlist that lists it (the
 * server answers blocked part requests first).
 */
const partEnd = new Map<string, number>();
const parseCache = new Map<string, ParsedPlaylist>();

function parseCached(text: string): ParsedPlaylist {
  let p = parseCache.get(text);
  if (!p) {
    p = parsePlaylist(text);
    parseCache.set(text, p);
    if (parseCache.size > 32) parseCache.delete(parseCache.keys().next().value!);
    for (const part of p.parts) {
      const key = partKey(part.msn, part.index);
      if (!partEnd.has(key)) partEnd.set(key, part.endWall);
    }
  }
  return p;
}

const order = (msn: number, index: number) => msn * 10_000 + index;
const plPath = `/hls/${id}/index.m3u8`;
let stopping = false;
const perViewer = { partsFetched: 0, hinted: 0, catchUp: 0, playlists: 0, blockedPlaylistNon200: 0 };

class Viewer {
  private pl: Conn;
  private media: Conn;
  private last = -1; // order() of the newest part requested

  /** Requests the preload-hinted part before it is listed (blocking), or waits for the playlist to list it. */
  private readonly fetchesHint: boolean;

  constructor(readonly n: number) {
    this.fetchesHint = clientMode === 'hint' || (clientMode === 'mixed' && n % 2 === 0);
    this.pl = new Conn(`llhls-viewer-${n}`);
    this.media = new Conn(`llhls-viewer-${n}`);
  }

  async run(): Promise<void> {
    let r = await this.pl.get(plPath);
    while (!stopping) {
      if (!r || r.status !== 200) {
        if (r) perViewer.blockedPlaylistNon200++;
        await sleep(200);
        r = await this.pl.get(plPath);
        this.last = -1;
        continue;
      }
      perViewer.playlists++;
      const p = parseCached(r.body.toString('latin1'));
      if (p.ended) return;
      if (this.last < 0) {
        // Join: the init segment and the newest part (the player starts near the live edge).
        const newest = p.parts.at(-1);
        const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(r.body.toString('latin1'));
        if (init) void this.media.get(`/hls/${id}/${init[1]}`, false);
        if (newest) {
          this.fetchPart(newest.msn, newest.index, newest.uri, false);
          this.last = order(newest.msn, newest.index);
        }
      }
      for (const part of p.parts) {
        if (order(part.msn, part.index) > this.last) {
          this.fetchPart(part.msn, part.index, part.uri, false);
          this.last = order(part.msn, part.index);
        }
      }
      const h = p.hint;
      if (!h) {
        await sleep(100);
        r = await this.pl.get(plPath);
        continue;
      }
      if (this.fetchesHint && order(h.msn, h.index) > this.last) {
        this.fetchPart(h.msn, h.index, h.uri, true);
        this.last = order(h.msn, h.index);
      }
      r = await this.pl.get(`${plPath}?_HLS_msn=${h.msn}&_HLS_part=${h.index}`);
    }
  }

  private fetchPart(msn: number, index: number, uri: string, hinted: boolean): void {
    const key = partKey(msn, index);
    void this.media.get(`/hls/${id}/${uri}`, false).then((res) => {
      if (!res || res.status !== 200) return;
      perViewer.partsFetched++;
      if (hinted) perViewer.hinted++;
      else perViewer.catchUp++;
      let rec = partTimes.get(key);
      if (!rec) partTimes.set(key, (rec = { recv: [], ttfb: [] }));
      rec.recv.push(res.done);
      rec.ttfb.push(res.head);
    });
  }

  close(): void {
    this.pl.close();
    this.media.close();
  }
}

async function main(): Promise<void> {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  const viewers: Viewer[] = [];
  const runs: Promise<void>[] = [];
  log(`loadgen${viewerRange}: ${N} viewers over ${rampMs / 1000} s; window ${((from - startedAt) / 1000).toFixed(1)}..${((to - startedAt) / 1000).toFixed(1)} s`);
  for (let i = 0; i < N; i++) {
    const v = new Viewer(first + i);
    viewers.push(v);
    runs.push(v.run().catch((err: unknown) => log(`viewer ${v.n}: ${String(err)}`)));
    const due = startedAt + ((i + 1) * rampMs) / N;
    const wait = due - wallNow();
    if (wait > 0) await sleep(wait);
  }
  log(`loadgen${viewerRange}: ${N} viewers running`);
  const lagFrom = Math.max(0, from - wallNow());
  await sleep(lagFrom);
  lag.reset();
  lag.enable();
  const counts0 = { ...counters, ...perViewer };
  const cpu0 = process.cpuUsage();
  const wall0 = wallNow();
  await sleep(Math.max(0, to - wallNow()));
  lag.disable();
  const cpu1 = process.cpuUsage(cpu0);
  const wallDt = (wallNow() - wall0) / 1000;
  const counts1 = { ...counters, ...perViewer };
  // Let the slowest viewers receive the window's last parts, then stop (bounded).
  await sleep(2000);
  stopping = true;
  for (const v of viewers) v.close();
  await Promise.race([Promise.all(runs), sleep(3000)]);

  const status: Record<string, number> = {};
  for (const [k, v] of counters.status) status[k] = v;
  const raw: RawLoad = {
    viewers: N,
    first,
    client: clientMode,
    window: { from, to },
    parts: {},
    partEnd: Object.fromEntries(partEnd),
    inWindow: {
      seconds: wallDt,
      requests: counts1.requests - counts0.requests,
      partsFetched: counts1.partsFetched - counts0.partsFetched,
      catchUp: counts1.catchUp - counts0.catchUp,
      playlists: counts1.playlists - counts0.playlists,
    },
    errors: { connectionErrors: counters.errors, playlistNon200: perViewer.blockedPlaylistNon200, status, connects: counters.reconnects },
    loadgen: {
      cpuPct: ((cpu1.user + cpu1.system) / 1e6 / wallDt) * 100,
      eventLoopDelayMs: { p50: lag.percentile(50) / 1e6, p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 },
    },
  };
  // A part this process first had before the window cannot count: only that time is kept (see RawLoad.parts).
  for (const [key, rec] of partTimes) {
    const early = Math.min(...rec.recv);
    raw.parts[key] = early < from ? { recv: [early], ttfb: [] } : rec;
  }
  if (args['raw-out']) writeFileSync(args['raw-out'], JSON.stringify(raw));
  if (args.out || !args['raw-out']) {
    const text = JSON.stringify(summarizeLoad([raw], readProbe(args['probe-file'], from, to)), null, 1);
    if (args.out) writeFileSync(args.out, text);
    else process.stdout.write(`${text}\n`);
  }
  log(`loadgen${viewerRange}: done (${counters.requests} requests, ${counters.errors} connection errors)`);
}

// Bounded: whatever happens, this process ends shortly after its window.
setTimeout(() => {
  log('loadgen: hard deadline reached, exiting');
  process.exit(2);
}, Math.max(0, to - wallNow()) + 25_000).unref();

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
