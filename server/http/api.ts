import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Hub, StreamStats } from '../media/hub';
import { MAX_TITLE_LENGTH, RegistryFullError, STREAM_ID_PATTERN, type StreamRegistry } from '../media/registry';
import { HttpError, readJsonBody, sendJson } from './respond';

export interface ApiDeps {
  hub: Hub;
  registry: StreamRegistry;
  rtmpPort: () => number | null;
  publicUrl: string | undefined;
  /** Extra viewers not seen by the hub as subscribers (HLS sessions), by stream id. */
  extraViewers?: (id: string) => number;
  /** Whether the stream has a snapshot to show now (see SnapshotService.available). */
  snapshotAvailable?: (id: string) => boolean;
}

const createBody = z.object({ title: z.string().max(MAX_TITLE_LENGTH).optional() }).strict();

/** Where users reach this server: PUBLIC_URL, else the request's Host. */
export function baseUrls(req: IncomingMessage, publicUrl: string | undefined, rtmpPort: number | null) {
  let http: URL;
  try {
    http = new URL(publicUrl ?? `http://${req.headers.host ?? 'localhost'}`);
  } catch {
    http = new URL('http://localhost');
  }
  const origin = http.origin;
  const rtmp = `rtmp://${http.hostname.includes(':') ? `[${http.hostname}]` : http.hostname}:${rtmpPort ?? 1935}/live`;
  return { origin, rtmp };
}

function streamUrls(req: IncomingMessage, deps: ApiDeps, id: string) {
  const { origin, rtmp } = baseUrls(req, deps.publicUrl, deps.rtmpPort());
  return {
    watch: `${origin}/watch/${id}`,
    hls: `${origin}/hls/${id}/index.m3u8`,
    rtmpPlay: `${rtmp}/${id}`,
  };
}

export function publicStream(req: IncomingMessage, deps: ApiDeps, id: string, stats: StreamStats | null) {
  const record = deps.registry.get(id);
  const rtmpPlayers = stats?.subscribers.rtmp ?? 0;
  return {
    id,
    title: record?.title ?? '',
    state: stats?.state ?? 'idle',
    live: stats?.state === 'live',
    startedAt: stats?.startedAt ? new Date(stats.startedAt).toISOString() : null,
    viewers: rtmpPlayers + (deps.extraViewers?.(id) ?? 0),
    video: stats?.video ?? null,
    audio: stats?.audio ?? null,
    bitrateKbps: stats?.bitrateKbps ?? 0,
    fps: stats?.fps ?? 0,
    urls: streamUrls(req, deps, id),
    /** A JPEG of a recent keyframe, when there is one to show. */
    snapshot: deps.snapshotAvailable?.(id) ? `/api/streams/${id}/snapshot.jpg` : null,
  };
}

/** /api/* routes. Returns false when the path is not an API route. */
export async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, deps: ApiDeps): Promise<boolean> {
  const p = url.pathname;
  if (p === '/api/streams') {
    if (req.method === 'GET') {
      const streams = deps.hub
        .activeStats()
        .map((s) => publicStream(req, deps, s.id, s))
        .sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
      sendJson(res, 200, { streams });
      return true;
    }
    if (req.method === 'POST') {
      const raw = (await readJsonBody(req)) ?? {};
      const body = createBody.safeParse(raw);
      if (!body.success) throw new HttpError(400, `bad request body: ${body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
      let created;
      try {
        created = await deps.registry.create(body.data.title ?? '');
      } catch (err) {
        if (err instanceof RegistryFullError) throw new HttpError(503, err.message);
        throw err;
      }
      const { origin, rtmp } = baseUrls(req, deps.publicUrl, deps.rtmpPort());
      const { id } = created.record;
      sendJson(res, 201, {
        id,
        key: created.key,
        title: created.record.title,
        createdAt: created.record.createdAt,
        urls: {
          ...streamUrls(req, deps, id),
          rtmpPublish: `${rtmp}/${created.key}`,
          obsServer: rtmp,
          obsStreamKey: created.key,
          broadcast: `${origin}/broadcast`,
        },
      }, { Location: `/api/streams/${id}` });
      return true;
    }
    throw new HttpError(405, `${req.method} is not allowed on /api/streams`);
  }
  const w = /^\/api\/watch\/([^/]+)$/.exec(p);
  if (w && req.method === 'GET') {
    // The watch page's view of a stream: always 200 (an unknown id may still go live), never a 404 in the console.
    const id = decodeURIComponent(w[1]);
    if (!STREAM_ID_PATTERN.test(id)) {
      sendJson(res, 200, { id: '', known: false, title: '', state: 'idle', live: false, startedAt: null, viewers: 0 });
      return true;
    }
    const stats = deps.hub.stats(id);
    const known = !!deps.registry.get(id) || (!!stats && stats.state !== 'idle');
    sendJson(res, 200, { ...publicStream(req, deps, id, stats), known });
    return true;
  }
  const m = /^\/api\/streams\/([^/]+)$/.exec(p);
  if (m) {
    if (req.method !== 'GET') throw new HttpError(405, `${req.method} is not allowed here`);
    const id = decodeURIComponent(m[1]);
    if (!STREAM_ID_PATTERN.test(id)) throw new HttpError(404, 'no such stream');
    const stats = deps.hub.stats(id);
    if (!deps.registry.get(id) && !(stats && stats.state !== 'idle')) throw new HttpError(404, 'no such stream');
    sendJson(res, 200, publicStream(req, deps, id, stats));
    return true;
  }
  return false;
}
