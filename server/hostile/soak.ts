/**
 * The soak: `npm run soak -- --minutes N` (default 2). The real server in a child process on loopback, and
 * at once, for N minutes:
 *
 * - RTMP publishers coming and going (ffmpeg `-re` looping the test FLV, 15-40 s each, 2 at a time);
 * - browser-ingest publishers coming and going (the /ingest WebSocket sending a real WebM in real time, 1 at
 *   a time), so the server runs its ingest ffmpeg;
 * - RTMP players and LL-HLS viewers joining and leaving the live streams (4 + 4 at a time, 5-20 s each);
 * - the hostile suite's attackers, one after the other, in their short versions (`--long`: long ones);
 * - one long-lived publisher, RTMP player and LL-HLS viewer that are checked for real time (as in the suite).
 *
 * Every `--every` seconds (default 10) it prints the server's RSS, open fds (/proc/<pid>/fd), ffmpeg children,
 * the event-loop delay (from /healthz when it reports one, else the /healthz round trip as a probe), live
 * streams and the victims' lag. At the end everything stops, the server gets 10 s to settle, and a summary
 * compares the quiet start with the quiet end (first / last / max, slope per minute). Exit code 1 when the
 * server died, or RSS, fds or ffmpeg children did not come back within the bounds below; 0 otherwise.
 *
 *   npm run soak -- --minutes 30 [--every 30] [--long] [--skip "item 1,item 13"] [--no-attacks]
 *   (--skip leaves out attackers by the start of their name up to a colon or a space: "item 1" is item 1 only)
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import type { Proc } from '../testing/harness';
import { connectPlayer, type RtmpPlayer } from '../testing/rtmp-client';
import { upgradeBadUrl } from './attacks/item01-upgrade-url';
import { amfReferences } from './attacks/item02-amf-references';
import { tinyMessages } from './attacks/item03-tiny-messages';
import { ingestClient, ingestIdle, sendStart } from './attacks/item04-ingest-idle';
import { rtmpSlots } from './attacks/item05-rtmp-slots';
import { unreadReplies } from './attacks/item06-unread-replies';
import { partialMessages } from './attacks/item07-partial-messages';
import { privateGop } from './attacks/item08-private-gop';
import { hlsUnbounded } from './attacks/item09-hls-unbounded';
import { pipelinedReloads } from './attacks/item10-pipelined-reloads';
import { rotatingUserAgent } from './attacks/item11-rotating-ua';
import { logStrings } from './attacks/item12-log-strings';
import { registryFailure } from './attacks/item13-registry-failure';
import { badEscapes } from './attacks/item14-bad-escapes';
import { httpSlowloris, wsSlowloris } from './attacks/slowloris';
import { loopPublisher, testWebm } from '../testing/media';
import { ffmpegChildren, openFds, rssBytes, startServerProcess, type ServerProcess } from './server-process';
import { attackContext, type Attack, type AttackContext } from './suite';
import { HlsViewer, mb, Victims } from './victims';

const ATTACKS: Attack[] = [
  badEscapes, httpSlowloris, wsSlowloris, pipelinedReloads, rotatingUserAgent, hlsUnbounded, upgradeBadUrl,
  rtmpSlots, logStrings, unreadReplies, partialMessages, privateGop, tinyMessages, amfReferences, ingestIdle, registryFailure,
];

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    every: { type: 'string', default: '10' },
    long: { type: 'boolean', default: false },
    'no-attacks': { type: 'boolean', default: false },
    skip: { type: 'string', default: '' },
    'max-rss-growth-mb': { type: 'string', default: '96' },
    'max-rss-mb': { type: 'string', default: '1024' },
    'max-fd-growth': { type: 'string', default: '30' },
  },
  allowPositionals: false,
});

const minutes = Number(args.minutes);
const everyMs = Number(args.every) * 1000;
if (!(minutes > 0 && minutes <= 24 * 60) || !(everyMs >= 1000)) {
  process.stderr.write('usage: npm run soak -- --minutes N (0 < N <= 1440) [--every S >= 1] [--long] [--skip "item 1,item 13"] [--no-attacks]\n');
  process.exit(2);
}
const BOUND = {
  rssGrowth: Number(args['max-rss-growth-mb']) * 1024 * 1024,
  rss: Number(args['max-rss-mb']) * 1024 * 1024,
  fdGrowth: Number(args['max-fd-growth']),
};
const skip = args.skip.split(',').map((s) => s.trim()).filter(Boolean);
const attacks = args['no-attacks'] ? [] : ATTACKS.filter((a) => !skip.some((s) => a.name.startsWith(`${s}:`) || a.name.startsWith(`${s} `)));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const rand = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
const say = (line: string) => void process.stdout.write(`${line}\n`);
const t00 = Date.now();
const stamp = () => `${((Date.now() - t00) / 1000).toFixed(0).padStart(5)} s`;

interface Sample {
  t: number;
  rss: number;
  fds: number;
  ffmpeg: number;
  loopMs: number | null;
  healthMs: number | null;
  live: number;
  behind: number | null;
}

/** A number under a key that names the event-loop delay, anywhere in the /healthz body. */
function loopDelay(body: unknown): number | null {
  if (!body || typeof body !== 'object') return null;
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (/loop/i.test(k)) {
      if (typeof v === 'number') return v;
      if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        for (const kk of ['p99', 'p99Ms', 'maxMs', 'max', 'meanMs', 'mean', 'delayMs']) if (typeof o[kk] === 'number') return o[kk] as number;
      }
    }
    const inner = v && typeof v === 'object' ? loopDelay(v) : null;
    if (inner !== null) return inner;
  }
  return null;
}

async function sampleOf(server: ServerProcess, victims: Victims | null, since: number): Promise<Sample> {
  const t0 = Date.now();
  let loopMs: number | null = null;
  let healthMs: number | null = null;
  let live = 0;
  try {
    const r = await fetch(`${server.http}/healthz`, { signal: AbortSignal.timeout(10000) });
    const body = (await r.json().catch(() => null)) as unknown;
    healthMs = Date.now() - t0;
    loopMs = loopDelay(body);
    const s = (await (await fetch(`${server.http}/api/streams`, { signal: AbortSignal.timeout(10000) })).json()) as { streams: unknown[] };
    live = s.streams.length;
  } catch {
    /* counted as no answer */
  }
  const rep = victims?.report(since);
  const behind = rep ? Math.max(rep.maxPlayerBehindMs ?? 0, rep.maxHlsBehindMs ?? 0) : null;
  return { t: Date.now(), rss: rssBytes(server.pid), fds: openFds(server.pid), ffmpeg: ffmpegChildren(server.pid), loopMs, healthMs, live, behind };
}

function line(s: Sample): string {
  const loop = s.loopMs !== null ? `loop delay ${s.loopMs.toFixed(1)} ms` : `healthz ${s.healthMs === null ? 'no answer' : `${s.healthMs} ms`}`;
  return `[soak ${stamp()}] RSS ${mb(s.rss)}, fds ${s.fds}, ffmpeg ${s.ffmpeg}, ${loop}, live streams ${s.live}${s.behind !== null ? `, victims behind ≤ ${s.behind} ms` : ''}`;
}

/** Least-squares slope of y over t, per minute. */
function slope(xs: Array<{ t: number; y: number }>): number {
  if (xs.length < 2) return 0;
  const n = xs.length;
  const mt = xs.reduce((a, x) => a + x.t, 0) / n;
  const my = xs.reduce((a, x) => a + x.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const x of xs) {
    num += (x.t - mt) * (x.y - my);
    den += (x.t - mt) ** 2;
  }
  return den ? (num / den) * 60000 : 0;
}

async function main(): Promise<number> {
  const endAt = Date.now() + minutes * 60000;
  // Bounded whatever happens: everything must be over a minute after the planned end (plus a long attack).
  const hard = setTimeout(() => {
    say(`[soak] hard deadline passed: exiting`);
    process.exit(1);
  }, minutes * 60000 + (args.long ? 180000 : 90000));
  hard.unref();

  const server = await startServerProcess();
  say(`[soak] server pid ${server.pid}, ${server.http}, ${server.rtmpUrl}; ${minutes} min, a sample every ${everyMs / 1000} s; ${attacks.length} attackers${args.long ? ' (long)' : ''}`);
  await testWebm(20);
  const samples: Sample[] = [];
  const first = await sampleOf(server, null, Date.now());
  samples.push(first);
  say(`${line(first)} (quiet start)`);

  const victims = await Victims.start(server);
  const running = () => Date.now() < endAt && server.alive();
  const tasks: Array<Promise<void>> = [];
  const counts = { rtmpPublishers: 0, ingests: 0, ingestsStarted: 0, rtmpPlayers: 0, hlsViewers: 0, attacks: 0, attackProblems: 0, errors: 0 };

  // RTMP publishers coming and going.
  const rtmpPublisher = async () => {
    while (running()) {
      let p: Proc | null = null;
      try {
        const s = await server.createStream('soak rtmp');
        p = await loopPublisher(`${server.rtmpUrl}/${s.key}`);
        counts.rtmpPublishers++;
        await sleep(Math.min(rand(15000, 40000), Math.max(0, endAt - Date.now())));
      } catch {
        counts.errors++;
        await sleep(2000);
      } finally {
        await p?.kill('SIGTERM');
      }
      await sleep(rand(500, 3000));
    }
  };
  // Browser ingest publishers coming and going.
  const ctxFor = (): AttackContext => attackContext(server, victims.stream, { long: false, log: () => undefined });
  const ingestPublisher = async (n: number) => {
    const file = await testWebm(20);
    while (running()) {
      try {
        const s = await server.createStream('soak ingest');
        const c = await ingestClient(ctxFor(), 100 + n, { answerPings: true });
        counts.ingests++;
        sendStart(c, s);
        const t0 = Date.now();
        while (!c.messages.some((m) => m.type === 'started') && !c.close && Date.now() - t0 < 10000) await sleep(50);
        if (c.messages.some((m) => m.type === 'started')) {
          counts.ingestsStarted++;
          const pieces = 80; // 20 s in 250 ms pieces
          const size = Math.ceil(file.length / pieces);
          for (let i = 0; i < pieces && running() && c.ws.readyState === WebSocket.OPEN; i++) {
            c.ws.send(file.subarray(i * size, (i + 1) * size));
            await sleep(250);
          }
          if (c.ws.readyState === WebSocket.OPEN) c.ws.send(JSON.stringify({ type: 'stop' }));
          await Promise.race([c.closed, sleep(5000)]);
        }
        c.ws.terminate();
      } catch {
        counts.errors++;
        await sleep(2000);
      }
      await sleep(rand(500, 3000));
    }
  };
  const liveIds = async (): Promise<string[]> => {
    try {
      const r = (await (await fetch(`${server.http}/api/streams`, { signal: AbortSignal.timeout(5000) })).json()) as { streams: Array<{ id: string; live: boolean }> };
      return r.streams.filter((s) => s.live).map((s) => s.id);
    } catch {
      return [];
    }
  };
  const rtmpViewer = async () => {
    while (running()) {
      const ids = await liveIds();
      if (!ids.length) {
        await sleep(1000);
        continue;
      }
      let p: RtmpPlayer | null = null;
      try {
        p = await connectPlayer(`${server.rtmpUrl}/${ids[Math.floor(Math.random() * ids.length)]}`, { timeoutMs: 10000 });
        counts.rtmpPlayers++;
        await sleep(Math.min(rand(5000, 20000), Math.max(0, endAt - Date.now())));
      } catch {
        counts.errors++;
        await sleep(1000);
      } finally {
        await p?.close();
      }
    }
  };
  const hlsViewer = async () => {
    while (running()) {
      const ids = await liveIds();
      if (!ids.length) {
        await sleep(1000);
        continue;
      }
      const v = new HlsViewer(server.http, ids[Math.floor(Math.random() * ids.length)]);
      counts.hlsViewers++;
      await sleep(Math.min(rand(5000, 20000), Math.max(0, endAt - Date.now())));
      await v.stop();
    }
  };
  const attacker = async () => {
    await sleep(5000);
    for (let i = 0; running() && attacks.length; i++) {
      const a = attacks[i % attacks.length];
      const ctx = attackContext(server, victims.stream, { long: args.long, log: () => undefined });
      const t0 = Date.now();
      try {
        const r = await a.run(ctx);
        counts.attacks++;
        counts.attackProblems += r.problems.length;
        say(`[soak ${stamp()}] attack ${a.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s${r.problems.length ? `; attacker saw: ${r.problems.join('; ')}` : ''}`);
      } catch (err) {
        counts.errors++;
        say(`[soak ${stamp()}] attack ${a.name} failed to run: ${(err as Error).message}`);
      }
      if (!server.alive()) say(`[soak ${stamp()}] the server died during "${a.name}"`);
      await sleep(5000);
    }
  };

  tasks.push(rtmpPublisher(), rtmpPublisher(), ingestPublisher(0));
  for (let i = 0; i < 4; i++) tasks.push(rtmpViewer(), hlsViewer());
  tasks.push(attacker());

  let since = Date.now();
  while (running()) {
    await sleep(Math.min(everyMs, Math.max(0, endAt - Date.now())));
    if (!server.alive()) break;
    const s = await sampleOf(server, victims, since);
    since = Date.now();
    samples.push(s);
    say(line(s));
  }
  say(`[soak ${stamp()}] stopping the clients`);
  await Promise.race([Promise.allSettled(tasks), sleep(120000)]);
  await victims.stop();
  let last: Sample | null = null;
  if (server.alive()) {
    await sleep(10000);
    last = await sampleOf(server, null, Date.now());
    samples.push(last);
    say(`${line(last)} (quiet end)`);
  }

  // Summary.
  const problems: string[] = [];
  const during = samples.slice(1, last ? -1 : undefined);
  const stat = (name: string, get: (s: Sample) => number | null, fmt: (x: number) => string) => {
    const xs = samples.map((s) => ({ t: s.t, y: get(s) })).filter((x): x is { t: number; y: number } => x.y !== null);
    const run = during.map((s) => ({ t: s.t, y: get(s) })).filter((x): x is { t: number; y: number } => x.y !== null);
    if (!xs.length) return;
    const max = Math.max(...xs.map((x) => x.y));
    say(`  ${name.padEnd(18)} first ${fmt(xs[0].y)}, last ${fmt(xs[xs.length - 1].y)}, max ${fmt(max)}, slope while running ${fmt(slope(run))}/min`);
  };
  say(`[soak] summary (${samples.length} samples over ${((Date.now() - t00) / 60000).toFixed(1)} min):`);
  stat('RSS', (s) => s.rss, mb);
  stat('open fds', (s) => s.fds, (x) => x.toFixed(1));
  stat('ffmpeg children', (s) => s.ffmpeg, (x) => x.toFixed(1));
  stat('event-loop delay', (s) => s.loopMs, (x) => `${x.toFixed(1)} ms`);
  stat('healthz round trip', (s) => s.healthMs, (x) => `${x.toFixed(0)} ms`);
  stat('live streams', (s) => s.live, (x) => x.toFixed(1));
  stat('victims behind', (s) => s.behind, (x) => `${x.toFixed(0)} ms`);
  say(`  clients: ${JSON.stringify(counts)}`);
  if (!server.alive()) problems.push(server.describeExit());
  if (last) {
    if (last.rss - first.rss > BOUND.rssGrowth) problems.push(`RSS grew ${mb(last.rss - first.rss)} from the quiet start to the quiet end (bound ${mb(BOUND.rssGrowth)})`);
    if (last.fds - first.fds > BOUND.fdGrowth) problems.push(`open fds grew ${last.fds - first.fds} from the quiet start to the quiet end (bound ${BOUND.fdGrowth})`);
    if (last.ffmpeg > 0) problems.push(`${last.ffmpeg} ffmpeg children still running 10 s after every client stopped`);
  }
  const maxRss = Math.max(...samples.map((s) => s.rss));
  if (maxRss > BOUND.rss) problems.push(`RSS reached ${mb(maxRss)} (bound ${mb(BOUND.rss)})`);
  await server.stop();
  for (const p of problems) say(`[soak] PROBLEM ${p}`);
  say(problems.length ? '[soak] FAILED' : '[soak] OK: flat within the bounds');
  return problems.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[soak] ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
