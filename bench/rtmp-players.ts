/**
 * Load generator: N minimal RTMP players (rtmp-lite-client.ts) in this one process.
 *
 *   node --import tsx bench/rtmp-players.ts --port 1935 --name <stream> [--players 100]
 *     [--seconds 15] [--rate 200] [--settle 2] [--max-wait 15] [--host 127.0.0.1] [--app live]
 *     [--probes 2]
 *
 * Ramps the connections at --rate per second, waits until every player has its first frame (or
 * failed, at most --max-wait s after the last connect), lets --settle s pass (the GOP burst a new
 * player gets), then measures for --seconds. Writes JSON lines on stdout:
 *   {"event":"ramp-done",…} {"event":"steady-start"} {"event":"steady-end"} {"event":"result",…}
 * and exits by itself; a hard deadline ends it in any case.
 *
 * Delivery delay: --probes players (the first and the last to connect, which the server serves
 * first and last in a fan-out pass) keep parsing and note, for each media message of the window,
 * arrival time − RTMP timestamp. Its minimum over the window (per probe and track) is the fixed
 * offset (publish start, clocks); what is above it is the delay added by the publisher's pacing,
 * the server and the network: reported as p50/p95/p99/max over all probes, in ms.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LitePlayer } from './rtmp-lite-client';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    app: { type: 'string', default: 'live' },
    name: { type: 'string' },
    players: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '15' },
    rate: { type: 'string', default: '200' },
    settle: { type: 'string', default: '2' },
    'max-wait': { type: 'string', default: '15' },
    probes: { type: 'string', default: '2' },
  },
});
const port = Number(values.port);
const name = values.name ?? '';
const n = Number(values.players);
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const settleS = Number(values.settle);
const maxWaitS = Number(values['max-wait']);
const probeCount = Math.min(n, Math.max(0, Number(values.probes) || 0));
if (!port || !name || !(n > 0) || !(seconds > 0) || !(rate > 0)) {
  console.error('usage: rtmp-players.ts --port P --name NAME [--players N] [--seconds S] [--rate R]');
  process.exit(2);
}

const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Whatever happens, this process ends.
const hardDeadlineS = n / rate + maxWaitS + settleS + seconds + 20;
setTimeout(() => {
  console.error(`rtmp-players: hard deadline of ${hardDeadlineS.toFixed(0)} s reached, exiting`);
  process.exit(3);
}, hardDeadlineS * 1000);

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const players: LitePlayer[] = [];
/** Per probe and track: arrival − timestamp of each media message during the window. */
const probeSamples: Array<{ audio: number[]; video: number[] }> = [];
let inWindow = false;
let settled = 0;
const onDone = () => {
  settled++;
};
const t0 = performance.now();

// Ramp: every 10 ms, start the players due by then (at --rate per second from t0).
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const due = Math.min(n, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    while (players.length < due) {
      const i = players.length;
      const isProbe = i < Math.ceil(probeCount / 2) || i >= n - Math.floor(probeCount / 2);
      let samples: { audio: number[]; video: number[] } | null = null;
      if (isProbe) probeSamples.push((samples = { audio: [], video: [] }));
      const p = new LitePlayer({
        host: values.host ?? '127.0.0.1',
        port,
        app: values.app ?? 'live',
        name,
        onFirstFrame: onDone,
        onClose: (pl) => {
          if (pl.firstFrameAt === null) onDone();
        },
        onMedia: samples
          ? (kind, ts, at) => {
              if (inWindow) samples[kind].push(at - ts);
            }
          : undefined,
      });
      players.push(p);
      p.start();
    }
    if (players.length >= n) {
      clearInterval(timer);
      resolve();
    }
  }, 10);
});
const rampS = (performance.now() - t0) / 1000;
emit({ event: 'ramp-done', rampS });

const waitUntil = performance.now() + maxWaitS * 1000;
while (settled < n && performance.now() < waitUntil) await sleep(50);
const allReadyS = (performance.now() - t0) / 1000;
await sleep(settleS * 1000);

// Steady window.
const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();
const startBytes = players.map((p) => p.bytes);
const openAtStart = players.map((p) => p.open && p.firstFrameAt !== null);
const cpu0 = process.cpuUsage();
const w0 = performance.now();
emit({ event: 'steady-start' });
inWindow = true;
await sleep(seconds * 1000);
inWindow = false;
const w1 = performance.now();
const cpu = process.cpuUsage(cpu0);
emit({ event: 'steady-end' });
eld.disable();
const windowS = (w1 - w0) / 1000;

const kbps = players.map((p, i) => ((p.bytes - startBytes[i]) * 8) / windowS / 1000).sort((a, b) => a - b);
const ttff = players
  .map((p) => p.firstFrameMs)
  .filter((v): v is number => v !== null)
  .sort((a, b) => a - b);
const errors = new Map<string, number>();
for (const p of players) {
  if (p.error) {
    const key = p.error.replace(/\d+/g, '#').slice(0, 120);
    errors.set(key, (errors.get(key) ?? 0) + 1);
  }
}
const round = (v: number | null, d = 1) => (v === null ? null : Math.round(v * 10 ** d) / 10 ** d);
const delays: number[] = [];
for (const pr of probeSamples) {
  for (const xs of [pr.audio, pr.video]) {
    if (xs.length === 0) continue;
    const min = Math.min(...xs);
    for (const x of xs) delays.push(x - min);
  }
}
delays.sort((a, b) => a - b);

emit({
  event: 'result',
  players: n,
  rampS: round(rampS, 2),
  allReadyS: round(allReadyS, 2),
  windowS: round(windowS, 2),
  tcpConnected: players.filter((p) => p.tcpConnectedAt !== null).length,
  gotFirstFrame: ttff.length,
  streamingAtWindowStart: openAtStart.filter(Boolean).length,
  openAtWindowEnd: players.filter((p) => p.open).length,
  closedDuringWindow: players.filter((p, i) => openAtStart[i] && !p.open).length,
  /** Players that received at least 1 kbit/s during the window. */
  gotDataInWindow: kbps.filter((k) => k >= 1).length,
  kbps: {
    median: round(percentile(kbps, 50)),
    p5: round(percentile(kbps, 5)),
    min: round(kbps[0] ?? null),
    max: round(kbps[kbps.length - 1] ?? null),
    aggregateMbps: round(kbps.reduce((a, b) => a + b, 0) / 1000, 1),
  },
  /** Delivery delay above the best case, ms (see the header), over --probes players. */
  delayMs: {
    probes: probeSamples.length,
    messages: delays.length,
    p50: round(percentile(delays, 50)),
    p95: round(percentile(delays, 95)),
    p99: round(percentile(delays, 99)),
    max: round(delays[delays.length - 1] ?? null),
  },
  firstFrameMs: { p50: round(percentile(ttff, 50), 0), p95: round(percentile(ttff, 95), 0), max: round(ttff[ttff.length - 1] ?? null, 0) },
  loadgen: {
    cpuPct: round(((cpu.user + cpu.system) / 1000 / (w1 - w0)) * 100),
    eventLoopDelayP99Ms: round(eld.percentile(99) / 1e6),
    eventLoopDelayMaxMs: round(eld.max / 1e6),
  },
  /** Where the players that never got a frame are stuck. */
  stuckPhases: players
    .filter((p) => p.firstFrameAt === null)
    .reduce<Record<string, number>>((acc, p) => {
      const k = `${p.phase}${p.firstVideoAt !== null ? '+seqhdr' : ''}`;
      acc[k] = (acc[k] ?? 0) + 1;
      return acc;
    }, {}),
  errors: Object.fromEntries(errors),
});

for (const p of players) p.stop();
await sleep(200);
process.exit(0);
