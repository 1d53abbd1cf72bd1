/**
 * Client interop: third-party clients against our real server on loopback.
 *
 *   npm run interop                 # every client
 *   npm run interop -- vlc-rtmp obs # some of them (vlc-rtmp, vlc-hls, obs)
 *
 * - vlc-rtmp: ffmpeg publishes H.264/AAC; VLC plays rtmp://…/live/<id> and remuxes what it got to
 *   MPEG-TS; ffprobe checks both tracks, packet counts and duration.
 * - vlc-hls: VLC plays /hls/<id>/index.m3u8 the same way.
 * - obs: OBS Studio (Simple output, x264 + AAC, custom RTMP server + stream key) streams a looping
 *   media source from a private Xvfb; the API must show the stream live and ffprobe must see H.264
 *   and AAC on the RTMP play URL; then OBS stops streaming (SIGINT) and the relay must see a clean
 *   unpublish or a disconnect.
 *
 * RTMP clients reach the server through a tap (a loopback forwarder that decodes the commands both
 * ways, bytes unchanged), so the report lists what each client sent and any error we answered.
 * As root on Debian, missing clients are installed with apt-get (VLC then runs as `nobody`: it
 * refuses root); otherwise a missing client is reported as MISSING and the run fails.
 * Exit code: 0 when every selected client passed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  describeMedia, isRoot, mediaInfo, spawnGroup, obsVersion, onPath, recordWithVlc, startObs, startRtmpTap, startXvfb, tapSummary, vlcVersion,
  type Group, type MediaInfo, type RtmpTap,
} from '../server/testing/clients';
import { publishTestStream, startTestServer, waitFor, type Proc, type TestServer } from '../server/testing/harness';

type Result = { client: string; status: 'PASS' | 'FAIL' | 'MISSING'; evidence: string[] };

const CLIENTS = {
  'vlc-rtmp': { tools: ['cvlc'], packages: ['vlc-bin', 'vlc-plugin-base'] },
  'vlc-hls': { tools: ['cvlc'], packages: ['vlc-bin', 'vlc-plugin-base'] },
  obs: { tools: ['obs', 'Xvfb'], packages: ['obs-studio', 'xvfb', 'libgl1-mesa-dri'] },
} as const;
type ClientName = keyof typeof CLIENTS;

const selected = (process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(CLIENTS)) as ClientName[];
for (const c of selected) {
  if (!(c in CLIENTS)) {
    console.error(`unknown client "${c}"; choose from ${Object.keys(CLIENTS).join(', ')}`);
    process.exit(2);
  }
}

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

/** Tools missing for the selected clients; as root with apt-get, install them first. */
function ensureClients(): Map<ClientName, string[]> {
  const missingFor = () => new Map(selected.map((c) => [c, CLIENTS[c].tools.filter((t) => !onPath(t)) as string[]] as const).filter(([, m]) => m.length > 0));
  let missing = missingFor();
  if (!onPath('ffmpeg') || !onPath('ffprobe')) {
    console.error('ffmpeg and ffprobe are needed (publisher and evidence): apt-get install -y ffmpeg');
    process.exit(2);
  }
  if (missing.size === 0) return missing;
  const packages = [...new Set([...missing.keys()].flatMap((c) => CLIENTS[c].packages))];
  if (isRoot && onPath('apt-get')) {
    console.log(`[interop] installing ${packages.join(' ')} with apt-get (running as root)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
    missing = missingFor();
  }
  for (const [c, tools] of missing) {
    console.error(`[interop] ${c}: missing ${tools.join(', ')}; install with: sudo apt-get install -y ${CLIENTS[c].packages.join(' ')}`);
  }
  return missing;
}

function tapEvidence(tap: RtmpTap, from: number, label: string, secret?: string): { lines: string[]; errors: number } {
  const lines: string[] = [];
  let errors = 0;
  tap.connections.slice(from).forEach((events, i) => {
    const s = tapSummary(events);
    const redact = (x: string) => (secret ? x.split(secret).join('<stream key>') : x);
    lines.push(redact(`${label} connection ${i + 1} sent: ${s.client}`));
    lines.push(redact(`  we answered: ${s.server}`));
    for (const e of s.errors) lines.push(`  ERROR reply: ${e.name}${e.detail ? ` (${e.detail})` : ''}`);
    errors += s.errors.length;
  });
  return { lines, errors };
}

async function withPublisher<T>(server: TestServer, fn: (s: { id: string }, pub: Proc) => Promise<T>): Promise<T> {
  const s = await server.createStream('interop');
  const pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { fps: 25, gop: 25 });
  try {
    await waitFor(`stream ${s.id} live`, async () => ((await (await fetch(`${server.http}/api/streams/${s.id}`)).json()) as { live: boolean }).live, 15000);
    return await fn(s, pub);
  } finally {
    await pub.kill('SIGKILL');
  }
}

async function vlcRtmp(server: TestServer, tap: RtmpTap, tmp: string): Promise<string[]> {
  return withPublisher(server, async (s) => {
    const out = path.join(tmp, 'vlc-rtmp.ts');
    const from = tap.connections.length;
    const url = tap.url(`live/${s.id}`);
    const vlc = await recordWithVlc(url, out, 6, { dir: tmp });
    const code = await vlc.exited;
    const info = await mediaInfo(out);
    const taps = tapEvidence(tap, from, 'VLC');
    const evidence = [`cvlc ${url} --run-time 6 --sout '#std{access=file,mux=ts}' exited ${code}`, `dump (${(await stat(out)).size} bytes): ${describeMedia(info)}`, ...taps.lines];
    try {
      checkPlayed(info, { width: 320, height: 240, sampleRate: 44100, fps: 25, minSeconds: 4 });
      check(taps.errors === 0, 'the relay answered VLC with an error');
    } catch (err) {
      throw Object.assign(err as Error, { evidence: [...evidence, ...vlc.output().trim().split('\n').slice(-10)] });
    }
    return evidence;
  });
}

async function vlcHls(server: TestServer, _tap: RtmpTap, tmp: string): Promise<string[]> {
  return withPublisher(server, async (s) => {
    // A few segments in the playlist first, as for any HLS player joining a running stream.
    await waitFor('3 HLS segments', async () => {
      const res = await fetch(`${server.http}/hls/${s.id}/index.m3u8`);
      return res.ok && ((await res.text()).match(/#EXTINF/g)?.length ?? 0) >= 3;
    }, 20000);
    const out = path.join(tmp, 'vlc-hls.ts');
    const url = `${server.http}/hls/${s.id}/index.m3u8`;
    const vlc = await recordWithVlc(url, out, 8, { dir: tmp, verbose: true });
    const code = await vlc.exited;
    const log = vlc.output();
    const segments = new Set(log.match(/Retrieving \S+\.m4s/g) ?? []).size;
    const reloads = (log.match(/Retrieving \S+index\.m3u8/g) ?? []).length;
    const info = await mediaInfo(out);
    const evidence = [
      `cvlc ${url} --run-time 8 exited ${code}: VLC's adaptive (HLS) demuxer, ${segments} fMP4 segments fetched, playlist loaded ${reloads} times`,
      `dump (${(await stat(out)).size} bytes): ${describeMedia(info)}`,
    ];
    try {
      checkPlayed(info, { width: 320, height: 240, sampleRate: 44100, fps: 25, minSeconds: 4 });
      check(reloads >= 2, 'VLC did not reload the live playlist');
    } catch (err) {
      const tail = log.split('\n').filter((l) => /error|warning/.test(l)).slice(-10);
      throw Object.assign(err as Error, { evidence: [...evidence, ...tail] });
    }
    return evidence;
  });
}

function checkPlayed(info: MediaInfo, want: { width: number; height: number; sampleRate: number; fps: number; minSeconds: number }): void {
  check(info.video?.codec === 'h264', `no H.264 video in the dump (${describeMedia(info)})`);
  check(info.video.width === want.width && info.video.height === want.height, `video is ${info.video.width}x${info.video.height}`);
  check(info.audio?.codec === 'aac', `no AAC audio in the dump (${describeMedia(info)})`);
  check(info.audio.sampleRate === want.sampleRate, `audio at ${info.audio.sampleRate} Hz`);
  check(info.duration >= want.minSeconds, `only ${info.duration} s received`);
  // Frames really arrived all along (not just the configuration): at least 80% of the expected count.
  check(info.video.packets >= info.duration * want.fps * 0.8, `${info.video.packets} video packets in ${info.duration} s`);
}

async function obs(server: TestServer, tap: RtmpTap, tmp: string): Promise<string[]> {
  const s = await server.createStream('obs interop');
  // The media source loops a 10 s H.264/AAC file (decoded and re-encoded by OBS).
  const loopFile = path.join(tmp, 'loop.mp4');
  const gen = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '10', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '30', '-c:a', 'aac', loopFile,
  ]);
  check(gen.status === 0, `ffmpeg could not write the loop file: ${gen.stderr}`);
  const evidence: string[] = [];
  const from = tap.connections.length;
  let xvfb: { display: string; group: Group } | null = null;
  let obsProc: Group | null = null;
  try {
    xvfb = await startXvfb();
    obsProc = await startObs({ home: path.join(tmp, 'obs-home'), server: tap.url('live'), key: s.key, loopFile, display: xvfb.display });
    const proc = obsProc;
    const live = await waitFor('OBS live in the API', async () => {
      if (proc.child.exitCode !== null) throw new Error(`OBS exited ${proc.child.exitCode}`);
      const body = (await (await fetch(`${server.http}/api/streams/${s.id}`)).json()) as {
        live: boolean; video: { codec: string; width: number; height: number } | null; audio: { codec: string; sampleRate: number; channels: number } | null; fps: number; bitrateKbps: number;
      };
      return body.live && body.video && body.audio && body.fps >= 20 ? body : null;
    }, 60000, 500).catch((err: Error) => {
      throw Object.assign(err, { evidence: proc.output().trim().split('\n').slice(-25) });
    });
    const gl = /Loading up OpenGL on adapter (.*)/.exec(obsProc.output())?.[1];
    evidence.push(`OBS on Xvfb ${xvfb.display}${gl ? `, OpenGL: ${gl}` : ''}; service rtmp_custom ${tap.url('live')} + stream key`);
    evidence.push(`GET /api/streams/${s.id}: live, video ${live.video!.codec} ${live.video!.width}x${live.video!.height} ${live.fps} fps, audio ${live.audio!.codec} ${live.audio!.sampleRate} Hz ${live.audio!.channels} ch, ${live.bitrateKbps} kb/s`);
    check(live.video!.codec === 'h264' && live.video!.width === 640 && live.video!.height === 360, 'unexpected video in the API');
    check(live.audio!.codec === 'aac', 'unexpected audio in the API');

    const probed = await mediaInfo(`${server.rtmpUrl}/${s.id}`, { countPackets: false });
    evidence.push(`ffprobe ${server.rtmpUrl}/${s.id}: ${describeMedia(probed)}`);
    check(probed.video?.codec === 'h264' && probed.video.width === 640, 'ffprobe sees no 640x360 H.264 on the play URL');
    check(probed.audio?.codec === 'aac' && probed.audio.sampleRate === 48000, 'ffprobe sees no 48 kHz AAC on the play URL');

    // A player records 4 s of it: OBS keeps delivering at its frame rate.
    const rec = path.join(tmp, 'obs-play.flv');
    const player = spawnGroup('ffmpeg', ['-v', 'error', '-i', `${server.rtmpUrl}/${s.id}`, '-t', '4', '-c', 'copy', '-y', rec], { timeoutMs: 30000 });
    const playerCode = await player.exited;
    check(playerCode === 0, `ffmpeg could not play the OBS stream (exit ${playerCode}): ${player.output()}`);
    const recorded = await mediaInfo(rec);
    evidence.push(`ffmpeg -t 4 -c copy of the play URL: ${describeMedia(recorded)}`);
    check(recorded.video && recorded.video.packets >= 4 * 30 * 0.8, 'fewer video frames than OBS\'s 30 fps');
    check(recorded.audio && recorded.audio.packets >= 4 * 46 * 0.8, 'fewer AAC frames than 48 kHz audio needs');

    // Stop streaming as a user quitting OBS would (SIGINT); the publisher must leave the hub.
    const stopped = await obsProc.stop('SIGINT', 10000);
    await waitFor('the stream no longer live', () => server.hub.stats(s.id)?.state !== 'live', 10000);
    evidence.push(`OBS stopped (SIGINT, exit ${stopped}); stream state now ${server.hub.stats(s.id)?.state ?? 'gone'}`);
    const taps = tapEvidence(tap, from, 'OBS', s.key);
    evidence.push(...taps.lines);
    check(taps.errors === 0, 'the relay answered OBS with an error');
    return evidence;
  } catch (err) {
    const e = err as Error & { evidence?: string[] };
    e.evidence = [...evidence, ...(e.evidence ?? []), ...tapEvidence(tap, from, 'OBS', s.key).lines];
    throw e;
  } finally {
    await obsProc?.stop('SIGKILL');
    await xvfb?.group.stop('SIGTERM', 3000);
  }
}

const RUNNERS: Record<ClientName, (server: TestServer, tap: RtmpTap, tmp: string) => Promise<string[]>> = {
  'vlc-rtmp': vlcRtmp,
  'vlc-hls': vlcHls,
  obs,
};

async function main(): Promise<number> {
  const missing = ensureClients();
  const results: Result[] = [];
  const versions: string[] = [];
  const ffmpegVersion = /ffmpeg version (\S+)/.exec(spawnSync('ffmpeg', ['-version']).stdout.toString())?.[1];
  versions.push(`ffmpeg ${ffmpegVersion}`);
  if (selected.some((c) => c.startsWith('vlc')) && onPath('cvlc')) versions.push(`VLC ${await vlcVersion()}`);
  if (selected.includes('obs') && onPath('obs')) versions.push(`OBS Studio ${await obsVersion()}`);
  console.log(`[interop] ${versions.join(', ')}; node ${process.version}; ${isRoot ? 'as root (VLC runs as nobody)' : `as uid ${process.getuid?.()}`}`);

  const server = await startTestServer({ PUBLISHER_GRACE_SECONDS: '2' });
  const tap = await startRtmpTap(server.rtmpPort!);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'golive-interop-'));
  console.log(`[interop] server http ${server.http}, rtmp ${server.rtmpUrl} (clients reach RTMP through a tap on port ${tap.port})`);
  try {
    for (const c of selected) {
      if (missing.has(c)) {
        results.push({ client: c, status: 'MISSING', evidence: [`not installed: ${missing.get(c)!.join(', ')} (apt-get install -y ${CLIENTS[c].packages.join(' ')})`] });
      } else {
        const t0 = Date.now();
        try {
          const evidence = await RUNNERS[c](server, tap, tmp);
          results.push({ client: c, status: 'PASS', evidence: [...evidence, `${((Date.now() - t0) / 1000).toFixed(1)} s`] });
        } catch (err) {
          const e = err as Error & { evidence?: string[] };
          results.push({ client: c, status: 'FAIL', evidence: [e.message, ...(e.evidence ?? [])] });
        }
      }
      const r = results[results.length - 1];
      console.log(`${r.status} ${r.client}`);
      for (const line of r.evidence) console.log(`    ${line}`);
    }
  } finally {
    await tap.close();
    await server.stop();
    await rm(tmp, { recursive: true, force: true });
  }
  const failed = results.filter((r) => r.status !== 'PASS');
  console.log(`[interop] ${results.length - failed.length} passed, ${failed.length} failed${failed.length ? ` (${failed.map((r) => `${r.client}: ${r.status}`).join(', ')})` : ''}`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
