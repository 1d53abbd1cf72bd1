/**
 * Load generator: N realtime viewers (`/realtime/<id>` WebSockets, docs/realtime-protocol.md) in this one process.
 *
 *   node --import tsx bench/realtime-viewers.ts --url ws://127.0.0.1:PORT/realtime/<id> [--viewers 100]
 *     [--seconds 15] [--rate 200] [--settle 2] [--max-wait 15] [--probes 2]
 *
 * Ramps the sockets at --rate per second, waits until every viewer has had its first media (or failed, at most
 * --max-wait s after the last connect), lets --settle s pass (the cached GOP each new viewer gets), then measures for
 * --seconds. JSON lines on stdout, as bench/rtmp-players.ts: ramp-done, steady-start, steady-end, result.
 *
 * Delivery delay: --probes viewers (the first and the last to connect) parse each message's `moof` boxes and note, for
 * each video fragment of the window, arrival time − its decode time (tfdt / 90 ms). The minimum over the window is the
 * fixed offset; what is above it is the delay added by pacing, the server (including its 33 ms write batches) and the
 * network, reported as p50/p95/p99/max in ms. The others only count bytes.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    viewers: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '15' },
    rate: { type: 'string', default: '200' },
    settle: { type: 'string', default: '2' },
    'max-wait': { type: 'string', default: '15' },
    probes: { type: 'string', default: '2' },
  },
});
const url = values.url ?? '';
const n = Number(values.viewers);
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const settleS = Number(values.settle);
const maxWaitS = Number(values['max-wait']);
const probeCount = Math.min(n, Math.max(0, Number(values.probes) || 0));
if (!url || !(n > 0) || !(seconds > 0) || !(rate > 0)) {
  console.error('usage: realtime-viewers.ts --url ws://HOST:PORT/realtime/ID [--viewers N] [--seconds S] [--rate R]');
  process.exit(2);
}

const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hardDeadlineS = n / rate + maxWaitS + settleS + seconds + 20;
setTimeout(() => {
  console.error(`realtime-viewers: hard deadline of ${hardDeadlineS.toFixed(0)} s reached, exiting`);
  process.exit(3);
}, hardDeadlineS * 1000).unref();

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Decode times (ms) of the video fragments (track 1) in one message of whole boxes. */
function videoDecodeTimesMs(buf: Buffer): number[] {
  const out: number[] = [];
  const walk = (start: number, end: number, inMoof: boolean, inTraf: { track: number }) => {
    let pos = start;
    while (pos + 8 <= end) {
      const size = buf.readUInt32BE(pos);
      const type = buf.toString('latin1', pos + 4, pos + 8);
      if (size < 8 || pos + size > end) return;
      if (type === 'moof') walk(pos + 8, pos + size, true, { track: 0 });
      else if (inMoof && type === 'traf') walk(pos + 8, pos + size, true, { track: 0 });
      else if (inMoof && type === 'tfhd') inTraf.track = buf.readUInt32BE(pos + 12);
      else if (inMoof && type === 'tfdt' && inTraf.track === 1) {
        const version = buf[pos + 8];
        const t = version === 1 ? Number(buf.readBigUInt64BE(pos + 12)) : buf.readUInt32BE(pos + 12);
        out.push(t / 90);
      }
      pos += size;
    }
  };
  walk(0, buf.length, false, { track: 0 });
  return out;
}

interface Viewer {
  ws: WebSocket;
  bytes: number;
  firstAt: number | null;
  connectedAt: number;
  open: boolean;
  error: string | null;
  samples: number[] | null;
}

const viewers: Viewer[] = [];
let inWindow = false;
let settled = 0;
const t0 = performance.now();

function startViewer(i: number): void {
  const isProbe = i < Math.ceil(probeCount / 2) || i >= n - Math.floor(probeCount / 2);
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const v: Viewer = { ws, bytes: 0, firstAt: null, connectedAt: performance.now(), open: false, error: null, samples: isProbe ? [] : null };
  viewers.push(v);
  ws.on('open', () => (v.open = true));
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return; // the clock messages
    const at = performance.now();
    v.bytes += data.length;
    if (v.firstAt === null) {
      v.firstAt = at;
      settled++;
    }
    if (v.samples && inWindow) for (const t of videoDecodeTimesMs(data)) v.samples.push(at - t);
  });
  ws.on('error', (err) => (v.error ??= err.message));
  ws.on('close', (code) => {
    v.open = false;
    v.error ??= `closed ${code}`;
    if (v.firstAt === null) settled++;
  });
}

await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const due = Math.min(n, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    while (viewers.length < due) startViewer(viewers.length);
    if (viewers.length >= n) {
      clearInterval(timer);
      resolve();
    }
  }, 10);
});
emit({ event: 'ramp-done', rampS: (performance.now() - t0) / 1000 });
const waitUntil = performance.now() + maxWaitS * 1000;
while (settled < n && performance.now() < waitUntil) await sleep(50);
await sleep(settleS * 1000);

const startBytes = viewers.map((v) => v.bytes);
const w0 = performance.now();
emit({ event: 'steady-start' });
inWindow = true;
await sleep(seconds * 1000);
inWindow = false;
const windowS = (performance.now() - w0) / 1000;
emit({ event: 'steady-end' });

const kbps = viewers.map((v, i) => ((v.bytes - startBytes[i]) * 8) / windowS / 1000).sort((a, b) => a - b);
const ttff = viewers
  .map((v) => (v.firstAt === null ? null : v.firstAt - v.connectedAt))
  .filter((x): x is number => x !== null)
  .sort((a, b) => a - b);
const delays: number[] = [];
for (const v of viewers) {
  if (!v.samples?.length) continue;
  const min = Math.min(...v.samples);
  for (const s of v.samples) delays.push(s - min);
}
delays.sort((a, b) => a - b);
const errors = new Map<string, number>();
for (const v of viewers) if (v.error) errors.set(v.error, (errors.get(v.error) ?? 0) + 1);
emit({
  event: 'result',
  viewers: n,
  withData: kbps.filter((k) => k > 0).length,
  kbpsMedian: percentile(kbps, 50),
  kbpsP5: percentile(kbps, 5),
  firstMediaMsP50: percentile(ttff, 50),
  firstMediaMsP95: percentile(ttff, 95),
  delayMs: { p50: percentile(delays, 50), p95: percentile(delays, 95), p99: percentile(delays, 99), max: delays[delays.length - 1] ?? null, samples: delays.length },
  errors: Object.fromEntries(errors),
});
for (const v of viewers) v.ws.terminate();
process.exit(0);
