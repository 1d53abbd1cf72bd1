/**
 * Test media for the hostile suite and the soak, encoded once per process by ffmpeg: an FLV
 * (H.264 + AAC) that legitimate RTMP publishers loop with `-re -c copy` (no encoding while the
 * attacks run, so the machine's CPU goes to the server), and a WebM/Matroska (H.264 + Opus, like
 * MediaRecorder's) for browser-ingest publishers.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run, type Proc } from './harness';

let dirP: Promise<string> | null = null;
const made = new Map<string, Promise<string>>();

function dir(): Promise<string> {
  dirP ??= mkdtemp(path.join(os.tmpdir(), 'golive-hostile-media-'));
  return dirP;
}

async function encode(name: string, args: string[]): Promise<string> {
  const file = path.join(await dir(), name);
  const p = run('ffmpeg', ['-v', 'error', ...args, '-y', file], { timeoutMs: 120000 });
  const code = await p.exited;
  if (code !== 0) throw new Error(`ffmpeg (${name}) exited ${code}: ${p.stderr()}`);
  return file;
}

function once(name: string, args: string[]): Promise<string> {
  let p = made.get(name);
  if (!p) {
    p = encode(name, args);
    made.set(name, p);
  }
  return p;
}

/** 10 s of 320x240 test pattern at 25 fps (a keyframe a second) + a 440 Hz tone, as FLV. */
export function testFlv(): Promise<string> {
  return once('publish.flv', [
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    '-t', '10',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '25', '-keyint_min', '25', '-bf', '0', '-b:v', '400k',
    '-c:a', 'aac', '-b:a', '64k',
    '-f', 'flv',
  ]);
}

/** `seconds` of a MediaRecorder-like recording: Matroska with H.264 (baseline) + Opus, audio track first. */
export async function testWebm(seconds = 6): Promise<Buffer> {
  const file = await once(`ingest-${seconds}.webm`, [
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=20',
    '-t', String(seconds), '-map', '0:a', '-map', '1:v',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-g', '20', '-pix_fmt', 'yuv420p',
    '-c:a', 'libopus', '-b:a', '48k',
    '-f', 'matroska',
  ]);
  return readFile(file);
}

/** A legitimate RTMP publisher: ffmpeg looping the test FLV in real time (`-re`, stream copy) to `url`. */
export async function loopPublisher(url: string, opts: { seconds?: number } = {}): Promise<Proc> {
  const file = await testFlv();
  return run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', file,
    ...(opts.seconds ? ['-t', String(opts.seconds)] : []),
    '-c', 'copy', '-f', 'flv', url,
  ]);
}

/** Bits of the pixel clock (seconds 0…63). */
export const CLOCK_BITS = 6;

/**
 * A video filter that draws a pixel clock on a 320x240 picture: a black band, and bit k of floor(t) as a 40x40 white
 * block at x = 10 + 50k, y = 100 (as e2e/replay.spec.ts draws it), so the second of a frame reads back from its pixels.
 */
export function clockFilter(): string {
  const blocks = Array.from(
    { length: CLOCK_BITS },
    (_, k) => `drawbox=x=${10 + 50 * k}:y=100:w=40:h=40:color=white:t=fill:enable='eq(mod(floor(t/${2 ** k}),2),1)'`,
  );
  return ['drawbox=x=0:y=90:w=320:h=60:color=black:t=fill', ...blocks].join(',');
}

/**
 * The second of a picture file (PNG, JPEG) or of the first frame of a media file, read with ffmpeg: scaled to
 * 320x240 (VLC's snapshots of a 320x240 stream are 320x258) as 8-bit gray, a block's centre brighter than 128 is a 1.
 * Also whether the band around the blocks is black (false: not a clock picture, e.g. a grey frame decoded without its
 * keyframe).
 */
export async function readClock(file: string, inputArgs: string[] = []): Promise<{ second: number; clock: boolean }> {
  const p = run('ffmpeg', ['-v', 'error', ...inputArgs, '-i', file, '-frames:v', '1', '-vf', 'scale=320:240', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { timeoutMs: 20000 });
  const code = await p.exited;
  if (code !== 0) throw new Error(`ffmpeg (reading the clock of ${file}) exited ${code}: ${p.stderr()}`);
  const px = p.stdout();
  if (px.length < 320 * 240) throw new Error(`${file}: ${px.length} bytes of picture`);
  const at = (x: number, y: number) => px[y * 320 + x];
  let second = 0;
  for (let k = 0; k < CLOCK_BITS; k++) if (at(30 + 50 * k, 120) > 128) second |= 1 << k;
  // Between the blocks (x = 55 + 50k) and above them (y = 95): black in a clock picture.
  const band = [...Array.from({ length: CLOCK_BITS - 1 }, (_, k) => at(55 + 50 * k, 120)), at(160, 95)];
  return { second, clock: band.every((v) => v < 40) };
}
