import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Hub, StreamStats } from '../media/hub';
import { MAX_TITLE_LENGTH, RegistryFullError, STREAM_ID_PATTERN, type StreamRecord, type StreamRegistry } from '../media/registry';
import type { Access } from './access';
import { HttpError, readJsonBody, sendJson } from './respond';

export interface ApiDeps {
  hub: Hub;
  registry: StreamRegistry;
  access: Access;
  rtmpPort: () => number | null;
  /** RTMPS_PORT as bound, or null when RTMPS is off. */
  rtmpsPort?: () => number | null;
  publicUrl: string | undefined;
  /** Extra viewers not seen by the hub as subscribers (HLS sessions), by stream id. */
  extraViewers?: (id: string) => number;
  /** Whether the stream has a snapshot to show now (see SnapshotService.available). */
  snapshotAvailable?: (id: string) => boolean;
  /** RECORD: whether a stream with no setting of its own is recorded. */
  recordDefault?: boolean;
  /** The stream was deleted: end what publishes it (browser ingests) beyond the hub. */
  onDeleted?: (id: string) => void;
  /** Forward targets (server/forward/api.ts): their routes, and their states in the operator's view of a stream. */
  forwards?: {
    route(req: IncomingMessage, res: ServerResponse, streamSegment: string, forwardSegment: string | undefined): Promise<void>;
    states(id: string): unknown[];
  };
}

const title = z.string().max(MAX_TITLE_LENGTH);
const createBody = z.object({ title: title.optional(), listed: z.boolean().optional() }).strict();
const patchBody = z
  .object({ title: title.optional(), listed: z.boolean().optional(), record: z.boolean().nullable().optional() })
  .strict()
  .refine((b) => b.title !== undefined || b.listed !== undefined || b.record !== undefined, { message: 'nothing to change: send title, listed and/or record' });
const signInBody = z.object({ token: z.string().min(1).max(512) }).strict();

/** Where users reach this server: PUBLIC_URL, else the request's Host. */
export function baseUrls(req: IncomingMessage, publicUrl: string | undefined, rtmpPort: number | null, rtmpsPort: number | null = null) {
  let http: URL;
  try {
    // Served over TLS by us (TLS_CERT): the socket is a TLSSocket.
    const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    http = new URL(publicUrl ?? `${scheme}://${req.headers.host ?? 'localhost'}`);
  } catch {
    http = new URL('http://localhost');
  }
  const origin = http.origin;
  const host = http.hostname.includes(':') ? `[${http.hostname}]` : http.hostname;
  const rtmp = `rtmp://${host}:${rtmpPort ?? 1935}/live`;
  const rtmps = rtmpsPort === null ? null : `rtmps://${host}:${rtmpsPort}/live`;
  return { origin, rtmp, rtmps };
}

function streamUrls(req: IncomingMessage, deps: ApiDeps, id: string) {
  const { origin, rtmp, rtmps } = baseUrls(req, deps.publicUrl, deps.rtmpPort(), deps.rtmpsPort?.() ?? null);
  return {
    watch: `${origin}/watch/${id}`,
    hls: `${origin}/hls/${id}/index.m3u8`,
    rtmpPlay: `${rtmp}/${id}`,
    ...(rtmps ? { rtmpsPlay: `${rtmps}/${id}` } : {}),
  };
}

/** The URLs that carry a key: shown once, when the key is made. */
function keyUrls(req: IncomingMessage, deps: ApiDeps, key: string) {
  const { origin, rtmp, rtmps } = baseUrls(req, deps.publicUrl, deps.rtmpPort(), deps.rtmpsPort?.() ?? null);
  return {
    rtmpPublish: `${rtmp}/${key}`,
    obsServer: rtmp,
    obsStreamKey: key,
    broadcast: `${origin}/broadcast`,
    // RTMPS_PORT: the same over TLS.
    ...(rtmps ? { rtmpsPublish: `${rtmps}/${key}`, obsServerTls: rtmps } : {}),
  };
}

export function publicStream(req: IncomingMessage, deps: ApiDeps, id: string, stats: StreamStats | null) {
  const record = deps.registry.get(id);
  const rtmpPlayers = stats?.subscribers.rtmp ?? 0;
  return {
    id,
    title: record?.title ?? '',
    listed: record?.listed ?? true,
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

type ManagedStream = ReturnType<typeof publicStream> & {
  createdAt: string | null;
  lastLiveAt: string | null;
  /** The operator's setting: true/false, or null to follow RECORD. */
  record: boolean | null;
  /** Whether its next broadcast is recorded (the setting, else RECORD). */
  recorded: boolean;
};

/** The operator's view: the public one plus when it was made and last live. */
function managedStream(req: IncomingMessage, deps: ApiDeps, record: StreamRecord): ManagedStream {
  return {
    ...publicStream(req, deps, record.id, deps.hub.stats(record.id)),
    createdAt: record.createdAt,
    lastLiveAt: record.lastLiveAt ? new Date(record.lastLiveAt).toISOString() : null,
    record: record.record,
    recorded: record.record ?? deps.recordDefault ?? false,
  };
}

export function parseBody<T>(schema: z.ZodType<T>, raw: unknown): T {
  const body = schema.safeParse(raw ?? {});
  if (!body.success) throw new HttpError(400, `bad request body: ${body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
  return body.data;
}

/** A path segment as a stream id, or null: bad escapes (`%zz`) and anything outside the id alphabet are no stream. */
export function streamIdOf(segment: string): string | null {
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    return null;
  }
  return STREAM_ID_PATTERN.test(id) ? id : null;
}

/** A registry change; a database that refuses it (disk full, read-only, I/O error) is a 503, not a crash or a 500. */
export function stored<T>(change: () => T): T {
  try {
    return change();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) {
      throw new HttpError(503, `the stream database refused the change (${code}): try again later`, { 'Retry-After': '5' });
    }
    throw err;
  }
}

function wantsAll(url: URL): boolean {
  const v = url.searchParams.get('all');
  return v === '1' || v === 'true';
}

async function streamsRoute(req: IncomingMessage, res: ServerResponse, url: URL, deps: ApiDeps): Promise<void> {
  const { access, registry, hub } = deps;
  if (req.method === 'GET') {
    if (wantsAll(url)) {
      access.requireOperator(req);
      const streams: ManagedStream[] = registry.all().map((r) => managedStream(req, deps, r));
      // Streams live without a stored record (PUBLISH_AUTH=none) are the operator's to see too.
      for (const s of hub.activeStats()) {
        if (!registry.get(s.id)?.keyHash) streams.push({ ...publicStream(req, deps, s.id, s), createdAt: null, lastLiveAt: null, record: null, recorded: deps.recordDefault ?? false });
      }
      sendJson(res, 200, { streams });
      return;
    }
    const streams = hub
      .activeStats()
      .filter((s) => registry.get(s.id)?.listed !== false)
      .map((s) => publicStream(req, deps, s.id, s))
      .sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
    sendJson(res, 200, { streams });
    return;
  }
  if (req.method === 'POST') {
    access.checkWrite(req, true);
    access.requireCreator(req);
    const body = parseBody(createBody, await readJsonBody(req));
    let created;
    try {
      created = stored(() => registry.createSync(body.title ?? '', body.listed ?? true));
    } catch (err) {
      if (err instanceof RegistryFullError) throw new HttpError(503, err.message, { 'Retry-After': '3600' });
      throw err;
    }
    const { id } = created.record;
    sendJson(
      res,
      201,
      {
        id,
        key: created.key,
        title: created.record.title,
        listed: created.record.listed,
        createdAt: created.record.createdAt,
        urls: { ...streamUrls(req, deps, id), ...keyUrls(req, deps, created.key) },
      },
      { Location: `/api/streams/${id}` },
    );
    return;
  }
  throw new HttpError(405, `${req.method} is not allowed on /api/streams`);
}

async function oneStreamRoute(req: IncomingMessage, res: ServerResponse, segment: string, deps: ApiDeps): Promise<void> {
  const { access, registry, hub } = deps;
  const id = streamIdOf(segment);
  if (req.method === 'GET') {
    const stats = id ? hub.stats(id) : null;
    if (!id || (!registry.get(id) && !(stats && stats.state !== 'idle'))) throw new HttpError(404, 'no such stream');
    const body: ReturnType<typeof publicStream> & { forwards?: unknown[] } = publicStream(req, deps, id, stats);
    // The forward targets' states are the operator's to see (a wrong token here is no error: this GET is public).
    if (deps.forwards && registry.get(id)?.keyHash && quietlyOperator(deps.access, req)) body.forwards = deps.forwards.states(id);
    sendJson(res, 200, body);
    return;
  }
  if (req.method !== 'PATCH' && req.method !== 'DELETE') throw new HttpError(405, `${req.method} is not allowed here`);
  access.checkWrite(req, req.method === 'PATCH');
  access.requireOperator(req);
  if (req.method === 'PATCH') {
    const body = parseBody(patchBody, await readJsonBody(req));
    const record = id ? stored(() => registry.update(id, body)) : null;
    if (!record) throw new HttpError(404, 'no such stream');
    sendJson(res, 200, managedStream(req, deps, record));
    return;
  }
  if (!id || !stored(() => registry.delete(id))) throw new HttpError(404, 'no such stream');
  // The key is gone: a live publish ends now, players and the HLS playlist get their end.
  hub.end(id, 'stream deleted');
  deps.onDeleted?.(id);
  res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
}

function quietlyOperator(access: Access, req: IncomingMessage): boolean {
  try {
    return access.isOperator(req);
  } catch {
    return false;
  }
}

async function keyRoute(req: IncomingMessage, res: ServerResponse, segment: string, deps: ApiDeps): Promise<void> {
  if (req.method !== 'POST') throw new HttpError(405, `${req.method} is not allowed here`);
  deps.access.checkWrite(req, true);
  deps.access.requireOperator(req);
  await readJsonBody(req);
  const id = streamIdOf(segment);
  const key = id ? stored(() => deps.registry.rotateKey(id)) : null;
  if (!id || !key) throw new HttpError(404, 'no such stream');
  sendJson(res, 200, { id, key, urls: keyUrls(req, deps, key) });
}

async function sessionRoute(req: IncomingMessage, res: ServerResponse, deps: ApiDeps): Promise<void> {
  const { access } = deps;
  if (req.method === 'GET') {
    sendJson(res, 200, { signedIn: access.signedIn(req), auth: access.broadcastAuth });
    return;
  }
  if (req.method === 'POST') {
    access.checkWrite(req, true);
    const { token } = parseBody(signInBody, await readJsonBody(req, 2048));
    access.signIn(req, res, token);
    res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    return;
  }
  if (req.method === 'DELETE') {
    access.checkWrite(req, false);
    access.signOut(req, res);
    res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    return;
  }
  throw new HttpError(405, `${req.method} is not allowed on /api/session`);
}

/** /api/* routes. Returns false when the path is not an API route. */
export async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, deps: ApiDeps): Promise<boolean> {
  const p = url.pathname;
  if (p === '/api/streams') {
    await streamsRoute(req, res, url, deps);
    return true;
  }
  if (p === '/api/session') {
    await sessionRoute(req, res, deps);
    return true;
  }
  const w = /^\/api\/watch\/([^/]+)$/.exec(p);
  if (w && req.method === 'GET') {
    // The watch page's view of a stream: always 200 (an unknown id may still go live), never a 404 in the console.
    const id = streamIdOf(w[1]);
    if (!id) {
      sendJson(res, 200, { id: '', known: false, title: '', state: 'idle', live: false, startedAt: null, viewers: 0 });
      return true;
    }
    const stats = deps.hub.stats(id);
    const known = !!deps.registry.get(id) || (!!stats && stats.state !== 'idle');
    sendJson(res, 200, { ...publicStream(req, deps, id, stats), known });
    return true;
  }
  const f = /^\/api\/streams\/([^/]+)\/forwards(?:\/([^/]+))?$/.exec(p);
  if (f && deps.forwards) {
    await deps.forwards.route(req, res, f[1], f[2]);
    return true;
  }
  const k = /^\/api\/streams\/([^/]+)\/key$/.exec(p);
  if (k) {
    await keyRoute(req, res, k[1], deps);
    return true;
  }
  const m = /^\/api\/streams\/([^/]+)$/.exec(p);
  if (m) {
    await oneStreamRoute(req, res, m[1], deps);
    return true;
  }
  return false;
}
