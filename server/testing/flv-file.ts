/**
 * Test fixtures: real H.264/AAC made by ffmpeg into an FLV file, read back as hub packets.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseAudioTag, parseVideoTag, type MediaPacket } from '../codec/flv';
import { run } from './harness';

export interface FlvTag {
  type: number;
  timestamp: number;
  data: Buffer;
}

/** Parse an FLV file into its tags (audio 8, video 9, script 18). */
export function readFlv(buf: Buffer): FlvTag[] {
  if (buf.length < 9 || buf.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV file');
  let pos = buf.readUInt32BE(5) + 4;
  const tags: FlvTag[] = [];
  while (pos + 11 <= buf.length) {
    const type = buf[pos] & 0x1f;
    const size = buf.readUIntBE(pos + 1, 3);
    const timestamp = (buf.readUIntBE(pos + 4, 3) | (buf[pos + 7] << 24)) >>> 0;
    if (pos + 11 + size > buf.length) break;
    tags.push({ type, timestamp, data: buf.subarray(pos + 11, pos + 11 + size) });
    pos += 11 + size + 4;
  }
  return tags;
}

/** Encode `seconds` of test pattern + tone with ffmpeg into FLV and return its media as packets. */
export async function makeTestPackets(opts: { seconds?: number; size?: string; fps?: number; gop?: number; audio?: boolean; video?: boolean } = {}): Promise<MediaPacket[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-flv-'));
  const file = path.join(dir, 'test.flv');
  const fps = opts.fps ?? 25;
  const args = ['-v', 'error'];
  if (opts.video !== false) args.push('-f', 'lavfi', '-i', `testsrc=size=${opts.size ?? '320x240'}:rate=${fps}`);
  if (opts.audio !== false) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  args.push('-t', String(opts.seconds ?? 4));
  if (opts.video !== false) args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', String(opts.gop ?? fps), '-keyint_min', String(opts.gop ?? fps), '-bf', '0');
  if (opts.audio !== false) args.push('-c:a', 'aac', '-b:a', '64k');
  args.push('-f', 'flv', '-y', file);
  const p = run('ffmpeg', args, { timeoutMs: 60000 });
  if ((await p.exited) !== 0) throw new Error(`ffmpeg failed: ${p.stderr()}`);
  const tags = readFlv(await readFile(file));
  await rm(dir, { recursive: true, force: true });
  const packets: MediaPacket[] = [];
  const t0 = Date.now();
  for (const t of tags) {
    if (t.type === 9) packets.push(parseVideoTag(Buffer.from(t.data), t.timestamp, t0 + t.timestamp));
    else if (t.type === 8) packets.push(parseAudioTag(Buffer.from(t.data), t.timestamp, t0 + t.timestamp));
  }
  return packets;
}
