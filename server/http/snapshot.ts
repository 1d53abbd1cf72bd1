import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SnapshotService } from '../hls/snapshot';
import { STREAM_ID_PATTERN } from '../media/registry';

/** `/api/streams/<id>/snapshot.jpg`: the id (still URL-encoded) is group 1. */
export const SNAPSHOT_PATH = /^\/api\/streams\/([^/]+)\/snapshot\.jpg$/;

function sendText(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = `${message}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(body);
}

/**
 * GET/HEAD /api/streams/<id>/snapshot.jpg: a recent JPEG of a live stream (200), 404 when there is nothing to show
 * (unknown or not live, no keyframe yet, no ffmpeg), 503 when ffmpeg failed.
 */
export async function serveSnapshot(req: IncomingMessage, res: ServerResponse, rawId: string, snapshots: SnapshotService): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendText(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
    return;
  }
  let id: string;
  try {
    id = decodeURIComponent(rawId);
  } catch {
    id = '';
  }
  if (!STREAM_ID_PATTERN.test(id)) {
    sendText(res, 404, 'no such stream');
    return;
  }
  const shot = await snapshots.get(id);
  if (res.destroyed) return;
  if (!shot.ok) {
    sendText(res, shot.status, shot.reason, shot.status === 503 ? { 'Retry-After': '10' } : {});
    return;
  }
  res.writeHead(200, {
    'Content-Type': 'image/jpeg',
    'Content-Length': shot.jpeg.length,
    'Cache-Control': 'public, max-age=10',
    'Last-Modified': new Date(shot.takenAt).toUTCString(),
  });
  if (req.method === 'HEAD') res.end();
  else res.end(shot.jpeg);
}
