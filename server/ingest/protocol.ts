/**
 * The /ingest WebSocket protocol (docs/ingest-protocol.md): messages and close codes.
 */
import { z } from 'zod';
import { STREAM_ID_PATTERN } from '../media/registry';

export const Close = {
  Normal: 1000,
  TooBig: 1009,
  /** Something failed inside the server while handling this connection. */
  InternalError: 1011,
  /** The server is stopping for a restart: reconnect with backoff to the same stream. */
  Restarting: 1012,
  BadRequest: 4400,
  Unauthorized: 4401,
  /** No media within the timeout (after `started`, or since the last chunk). */
  NoMedia: 4408,
  Conflict: 4409,
  /** Over a limit: browser broadcasts at once, sockets from this address, sockets waiting to start. */
  TooMany: 4429,
  Unsupported: 4415,
  FfmpegFailed: 4500,
  Unavailable: 4503,
} as const;

export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

const SUPPORTED_MIME = /^(video|audio)\/(webm|mp4|x-matroska)(;.*)?$/i;

export const startMessage = z
  .object({
    type: z.literal('start'),
    v: z.literal(1),
    streamId: z.string().regex(STREAM_ID_PATTERN, 'invalid stream id'),
    key: z.string().min(1).max(200),
    mimeType: z.string().min(1).max(200),
    captureStart: z.number().finite().positive(),
    title: z.string().max(120).optional(),
  })
  .strict();

export const pongMessage = z.object({ type: z.literal('pong'), serverTime: z.number().finite(), clientTime: z.number().finite() }).strict();
export const stopMessage = z.object({ type: z.literal('stop') }).strict();
export const clientMessage = z.discriminatedUnion('type', [startMessage, pongMessage, stopMessage]);

export type StartMessage = z.infer<typeof startMessage>;
export type ClientMessage = z.infer<typeof clientMessage>;

/** Parse a text frame; throws an Error whose message is fit to show the user. */
export function parseClientMessage(text: string): ClientMessage {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('message is not valid JSON');
  }
  const r = clientMessage.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue.path.length ? issue.path.join('.') : 'message';
    throw new Error(`bad ${where}: ${issue.message}`);
  }
  return r.data;
}

export interface MediaFormat {
  input: 'webm' | 'mp4';
  transcode: boolean;
}

/** What ffmpeg does with a MediaRecorder MIME type: copy H.264, transcode anything else. Null when unsupported. */
export function mediaFormat(mimeType: string): MediaFormat | null {
  if (!SUPPORTED_MIME.test(mimeType.trim())) return null;
  const lower = mimeType.toLowerCase();
  const input = lower.includes('mp4') ? 'mp4' : 'webm';
  const codecs = /codecs\s*=\s*"?([^";]*)"?/.exec(lower)?.[1] ?? '';
  const h264 = /\b(h264|avc1[.\w]*)\b/.test(codecs) || (input === 'mp4' && !/vp8|vp9|vp09|av01|av1/.test(codecs));
  const audioOnly = lower.startsWith('audio/');
  return { input, transcode: !h264 && !audioOnly };
}

/** Does this chunk start a WebM/Matroska (EBML) or MP4 (ftyp) file? */
export function startsMediaFile(chunk: Buffer, input: 'webm' | 'mp4'): boolean {
  if (input === 'webm') return chunk.length >= 4 && chunk.readUInt32BE(0) === 0x1a45dfa3;
  return chunk.length >= 8 && chunk.toString('latin1', 4, 8) === 'ftyp';
}

/** WebSocket close reasons are limited to 123 bytes. */
export function closeReason(text: string): string {
  let s = text.replace(/\s+/g, ' ').trim();
  while (Buffer.byteLength(s) > 123) s = s.slice(0, -1);
  return s;
}
