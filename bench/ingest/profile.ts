/**
 * Where the server's CPU goes during browser ingest: a V8 .cpuprofile (from `run.ts --cpu-prof`)
 * cut to a time window (by default the last 35 s but 2, i.e. the one measured step of a
 * `--from N --max N --seconds 30` run) and each sample put in one bucket by its stack.
 *
 *   npx tsx bench/ingest/profile.ts <file.cpuprofile> [--last 35] [--skip-end 2] [--top 15]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { frameLabel, loadProfile, type ProfileNode } from '../cpuprofile';

/** First match wins: a pipe write happens inside the WebSocket message handler, HLS inside the RTMP receive. */
const BUCKETS: Array<{ name: string; test: (f: ProfileNode['callFrame']) => boolean }> = [
  { name: 'write to ffmpeg stdin (FfmpegBridge.write -> pipe)', test: (f) => f.url.endsWith('server/ingest/bridge.ts') && f.functionName === 'write' },
  { name: 'LL-HLS packaging (server/hls)', test: (f) => f.url.includes('/server/hls/') },
  { name: 'hub + relay (server/media, server/relay)', test: (f) => f.url.includes('/server/media/') || f.url.includes('/server/relay/') },
  { name: 'RTMP receive from ffmpeg (server/rtmp)', test: (f) => f.url.includes('/server/rtmp/') },
  { name: 'WebSocket receive (ws: frames, unmask, concat)', test: (f) => f.url.includes('/node_modules/ws/') },
  { name: 'ffmpeg progress/stderr (bridge, ProgressParser)', test: (f) => f.url.includes('/server/ingest/bridge.ts') || f.url.includes('/server/ffmpeg/') },
  { name: 'ingest session (stats, ping, JSON)', test: (f) => f.url.includes('/server/ingest/') },
  { name: 'garbage collector', test: (f) => f.functionName === '(garbage collector)' },
  { name: '(program): native, outside JS', test: (f) => f.functionName === '(program)' },
];

const label = frameLabel;

export function windowReport(file: string, lastS: number, skipEndS: number, top: number): string {
  const { p, byId, parent } = loadProfile(file);
  const to = p.endTime - skipEndS * 1e6;
  const from = to - lastS * 1e6;
  const bucketUs = new Map<string, number>();
  const selfUs = new Map<string, number>();
  let t = p.startTime;
  let busy = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const dt = p.timeDeltas[i + 1] ?? 0; // the time until the next sample belongs to this one
    const leaf = byId.get(p.samples[i])!;
    if (leaf.callFrame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    busy += dt;
    selfUs.set(label(leaf.callFrame), (selfUs.get(label(leaf.callFrame)) ?? 0) + dt);
    const stack: ProfileNode[] = [];
    for (let cur: number | undefined = leaf.id; cur !== undefined; cur = parent.get(cur)) stack.push(byId.get(cur)!);
    let bucket = 'other JS / Node internals';
    for (const b of BUCKETS) {
      if (stack.some((n) => b.test(n.callFrame))) {
        bucket = b.name;
        break;
      }
    }
    bucketUs.set(bucket, (bucketUs.get(bucket) ?? 0) + dt);
  }
  const wall = (to - from) / 1e6;
  const rows = [...bucketUs].sort((a, b) => b[1] - a[1]);
  const selfRows = [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `${path.basename(file)}: window ${lastS} s ending ${skipEndS} s before the profile's end; busy ${(busy / 1e6).toFixed(2)} s = ${((busy / 1e6 / wall) * 100).toFixed(1)} % of one core (profiler overhead included), idle ${(idle / 1e6).toFixed(1)} s`,
    '',
    '| where (by stack, first match) | % of busy | % of one core |',
    '| --- | --: | --: |',
    ...rows.map(([name, us]) => `| ${name} | ${((us / busy) * 100).toFixed(1)} | ${((us / 1e6 / wall) * 100).toFixed(2)} |`),
    '',
    '| top self time | % of busy |',
    '| --- | --: |',
    ...selfRows.map(([name, us]) => `| ${name} | ${((us / busy) * 100).toFixed(1)} |`),
  ].join('\n');
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { last: { type: 'string', default: '35' }, 'skip-end': { type: 'string', default: '2' }, top: { type: 'string', default: '15' } },
});
if (!positionals.length) {
  console.error('usage: npx tsx bench/ingest/profile.ts <file.cpuprofile> [--last 35] [--skip-end 2] [--top 15]');
  process.exitCode = 2;
}
for (const f of positionals) console.log(`${windowReport(f, Number(values.last), Number(values['skip-end']), Number(values.top))}\n`);
