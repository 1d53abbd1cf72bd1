/**
 * Recordings over HTTP:
 *   GET    /api/streams/<id>/recordings?limit=&cursor=   newest first, `next` is the cursor of the next page
 *   GET    /api/recordings/<rid>                         one recording
 *   DELETE /api/recordings/<rid>                         operator only
 *   GET    /api/recordings/<rid>/index.m3u8              HLS playlist (VOD, or EVENT while recording)
 *   GET    /api/recordings/<rid>/fragments.mp4           the file as written (init + fragments), Range supported
 *   GET    /api/recordings/<rid>/download.mp4            the MP4 download (with mehd and sidx), Range supported
 *   GET    /api/recordings/<rid>/thumbnail.jpg           a frame taken while it was live (404 when none)
 *   GET    /api/recordings?limit=&before=                recent broadcasts: ended recordings of listed streams, newest
 *                                                        first; `next` is the `before` of the next page
 * Ranges only ever cover indexed bytes: a segment still being written is never served.
 */
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Access } from '../http/access';
import { baseUrls } from '../http/api';
import { HttpError, sendJson } from '../http/respond';
import { STREAM_ID_PATTERN } from '../media/registry';
import { download } from './mp4';
import { recordingPlaylist } from './playlist';
import { parseRange } from './range';
import type { Recorder } from './recorder';
import { cursorOf, parseCursor, RECORDING_ID_PATTERN, type RecordingRow, type RecordingStore } from './store';

export interface RecordingsHttpDeps {
  store: RecordingStore;
  recorder: Recorder;
  access: Access;
  publicUrl: string | undefined;
  rtmpPort: () => number | null;
}

const LIST = /^\/api\/streams\/([^/]+)\/recordings$/;
const ONE = /^\/api\/recordings\/([^/]+)(?:\/(index\.m3u8|fragments\.mp4|download\.mp4|thumbnail\.jpg))?$/;
const MAX_PAGE = 100;
/** The public listing: a larger limit is cut to this. */
const MAX_RECENT_PAGE = 50;

function decoded(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

export function recordingView(req: IncomingMessage, deps: RecordingsHttpDeps, r: RecordingRow) {
  const { origin } = baseUrls(req, deps.publicUrl, deps.rtmpPort());
  const base = `${origin}/api/recordings/${r.id}`;
  return {
    id: r.id,
    streamId: r.streamId,
    /** The stream's title when the broadcast started. */
    title: r.title ?? '',
    startedAt: new Date(r.startedAt).toISOString(),
    endedAt: r.endedAt === null ? null : new Date(r.endedAt).toISOString(),
    durationSeconds: Math.round(r.durationUs / 1000) / 1000,
    bytes: r.bytes,
    state: r.state,
    error: r.error,
    thumbnail: r.thumbnail ? `${base}/thumbnail.jpg` : null,
    urls: { playlist: `${base}/index.m3u8`, mp4: `${base}/download.mp4`, watch: `${origin}/watch/${encodeURIComponent(r.streamId)}?recording=${r.id}` },
  };
}

function listRoute(req: IncomingMessage, res: ServerResponse, url: URL, streamId: string, deps: RecordingsHttpDeps): void {
  if (req.method !== 'GET') throw new HttpError(405, `${req.method} is not allowed here`);
  const rawLimit = url.searchParams.get('limit');
  const limit = rawLimit === null ? 20 : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new HttpError(400, `limit must be an integer from 1 to ${MAX_PAGE}`);
  const rawCursor = url.searchParams.get('cursor');
  const cursor = rawCursor === null || rawCursor === '' ? null : parseCursor(rawCursor);
  if (rawCursor && !cursor) throw new HttpError(400, 'bad cursor');
  const rows = deps.store.byStream(streamId, limit + 1, cursor);
  const page = rows.slice(0, limit);
  sendJson(res, 200, {
    recordings: page.map((r) => recordingView(req, deps, r)),
    next: rows.length > limit ? cursorOf(page[page.length - 1]) : null,
  });
}

/** GET /api/recordings: the public "recent broadcasts". */
function recentRoute(req: IncomingMessage, res: ServerResponse, url: URL, deps: RecordingsHttpDeps): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not allowed here`);
  const rawLimit = url.searchParams.get('limit');
  const limit = rawLimit === null || rawLimit === '' ? 12 : /^[0-9]{1,6}$/.test(rawLimit) ? Number(rawLimit) : NaN;
  if (!Number.isInteger(limit) || limit < 1) throw new HttpError(400, 'limit must be a positive integer');
  const take = Math.min(limit, MAX_RECENT_PAGE);
  const rawBefore = url.searchParams.get('before');
  const cursor = rawBefore === null || rawBefore === '' ? null : parseCursor(rawBefore);
  if (rawBefore && !cursor) throw new HttpError(400, 'bad cursor (before)');
  const rows = deps.store.listed(take + 1, cursor);
  const page = rows.slice(0, take);
  sendJson(res, 200, {
    recordings: page.map((r) => {
      const v = recordingView(req, deps, r);
      // Public: nothing of how the file is written or why a recording failed.
      return { id: v.id, streamId: v.streamId, title: v.title, startedAt: v.startedAt, endedAt: v.endedAt, durationSeconds: v.durationSeconds, thumbnail: v.thumbnail, urls: v.urls };
    }),
    next: rows.length > take ? cursorOf(page[page.length - 1]) : null,
  });
}

async function sendThumbnail(req: IncomingMessage, res: ServerResponse, rec: RecordingRow, deps: RecordingsHttpDeps): Promise<void> {
  if (!rec.thumbnail) throw new HttpError(404, 'this recording has no thumbnail');
  let body: Buffer;
  try {
    body = await readFile(deps.recorder.thumbnailOf(rec.id));
  } catch {
    throw new HttpError(404, 'this recording has no thumbnail');
  }
  res.writeHead(200, {
    'Content-Type': 'image/jpeg',
    'Content-Length': body.length,
    // Taken once and never changed: a recording id is never reused.
    'Cache-Control': 'public, max-age=86400, immutable',
    'Access-Control-Allow-Origin': '*',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const MEDIA_HEADERS = {
  'Accept-Ranges': 'bytes',
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Accept-Ranges',
};

/**
 * Answer GET/HEAD with the resource made of `header` (bytes in memory) then the file's [fileStart, fileEnd), whole or
 * the requested range.
 */
async function sendMedia(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  parts: { header: Buffer; fileStart: number; fileEnd: number },
  extra: Record<string, string>,
): Promise<void> {
  const size = parts.header.length + (parts.fileEnd - parts.fileStart);
  // If-Range names a version we never gave out (no validators): send it all.
  const range = req.headers['if-range'] !== undefined ? ({ kind: 'full' } as const) : parseRange(req.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    res.writeHead(416, { ...MEDIA_HEADERS, 'Content-Range': `bytes */${size}`, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end('range not satisfiable\n');
    return;
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : size - 1; // inclusive
  const headers: Record<string, string | number> = { ...MEDIA_HEADERS, ...extra, 'Content-Type': 'video/mp4', 'Content-Length': end - start + 1 };
  if (range.kind === 'partial') headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(range.kind === 'partial' ? 206 : 200, headers);
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  const h = parts.header.length;
  if (start < h) {
    const chunk = parts.header.subarray(start, Math.min(h, end + 1));
    if (end < h) {
      res.end(chunk);
      return;
    }
    res.write(chunk);
  }
  const fromFile = parts.fileStart + Math.max(0, start - h);
  const toFile = parts.fileStart + (end - h); // inclusive
  try {
    await pipeline(createReadStream(file, { start: fromFile, end: toFile, highWaterMark: 256 * 1024 }), res);
  } catch {
    // The client went away, or the file did (deleted meanwhile): the response is cut.
    res.destroy();
  }
}

async function readInit(file: string, size: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(size);
    const { bytesRead } = await fh.read(buf, 0, size, 0);
    if (bytesRead < size) throw new HttpError(500, 'the recording file is shorter than its index');
    return buf;
  } finally {
    await fh.close();
  }
}

function cacheOf(r: RecordingRow): string {
  return r.state === 'recording' ? 'no-store' : 'public, max-age=300';
}

async function oneRoute(req: IncomingMessage, res: ServerResponse, rid: string, sub: string | undefined, deps: RecordingsHttpDeps): Promise<void> {
  const method = req.method ?? 'GET';
  if (sub === undefined && method === 'DELETE') {
    deps.access.checkWrite(req, false);
    deps.access.requireOperator(req);
    if (!RECORDING_ID_PATTERN.test(rid) || !(await deps.recorder.delete(rid))) throw new HttpError(404, 'no such recording');
    res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} is not allowed here`);
  const rec = RECORDING_ID_PATTERN.test(rid) ? deps.store.get(rid) : undefined;
  if (!rec) throw new HttpError(404, 'no such recording');
  if (sub === undefined) {
    sendJson(res, 200, recordingView(req, deps, rec));
    return;
  }
  if (sub === 'thumbnail.jpg') {
    await sendThumbnail(req, res, rec, deps);
    return;
  }
  const file = deps.recorder.fileOf(rec.id);
  if (sub === 'index.m3u8') {
    const body = Buffer.from(recordingPlaylist(rec, deps.store.segments(rec.id), 'fragments.mp4'));
    res.writeHead(200, {
      'Content-Type': 'application/vnd.apple.mpegurl',
      'Content-Length': body.length,
      'Cache-Control': rec.state === 'recording' ? 'no-store' : 'public, max-age=60',
      'Access-Control-Allow-Origin': '*',
    });
    res.end(method === 'HEAD' ? undefined : body);
    return;
  }
  if (sub === 'fragments.mp4') {
    await sendMedia(req, res, file, { header: Buffer.alloc(0), fileStart: 0, fileEnd: rec.bytes }, { 'Cache-Control': cacheOf(rec) });
    return;
  }
  const d = download(await readInit(file, rec.initSize), rec, deps.store.segments(rec.id));
  const name = `${rec.streamId}-${new Date(rec.startedAt).toISOString().replace(/[:.]/g, '-')}.mp4`;
  await sendMedia(req, res, file, d, { 'Cache-Control': cacheOf(rec), 'Content-Disposition': `attachment; filename="${name}"` });
}

/** Answer a recordings route; false when the path is not one. */
export async function handleRecordings(req: IncomingMessage, res: ServerResponse, url: URL, deps: RecordingsHttpDeps): Promise<boolean> {
  const p = url.pathname;
  if (p === '/api/recordings' || p === '/api/recordings/') {
    recentRoute(req, res, url, deps);
    return true;
  }
  const l = LIST.exec(p);
  if (l) {
    const id = decoded(l[1]);
    if (!id || !STREAM_ID_PATTERN.test(id)) throw new HttpError(404, 'no such stream');
    listRoute(req, res, url, id, deps);
    return true;
  }
  const o = ONE.exec(p);
  if (!o) {
    if (p.startsWith('/api/recordings/')) throw new HttpError(404, 'no such recording');
    return false;
  }
  await oneRoute(req, res, decoded(o[1]) ?? '', o[2], deps);
  return true;
}
