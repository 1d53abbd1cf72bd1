import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Config } from './config';
import { locateFfmpeg, type FfmpegInfo } from './ffmpeg/locate';
import { OperatorCredential } from './auth/operator';
import { SessionStore } from './auth/sessions';
import { Access, originAllowed } from './http/access';
import { baseUrls, handleApi } from './http/api';
import { IngestService } from './ingest/service';
import { HlsService, NodeReply, type HlsReply } from './hls/service';
import { SnapshotService } from './hls/snapshot';
import { HttpFront } from './http/front';
import { tagClient } from './http/trust-proxy';
import { EventLoopMonitor, healthReport } from './http/health';
import { HttpError, sendError, sendJson } from './http/respond';
import { serveSnapshot, SNAPSHOT_PATH } from './http/snapshot';
import { parseTarget, refuseUpgrade } from './http/target';
import type { Logger } from './log';
import { Hub } from './media/hub';
import { StreamRegistry } from './media/registry';
import { PublishHook } from './hooks/publish-hook';
import { WebhookSender } from './hooks/webhooks';
import { forwardMetrics, Metrics, recordingMetrics, webhooksMetrics } from './metrics/metrics';
import { listen, StartupError } from './net';
import { rtmpRelay } from './relay/rtmp';
import { RtmpServer } from './rtmp/server';
import { StoreError } from './store/db';
import { RecordingService } from './record/service';
import type { CertificateKeeper } from './tls/certificate';
import { createRedirectServer } from './tls/redirect';
import { createRtmpsServer } from './tls/rtmps';
import { secureContextAdvice } from './tls/secure-context';
import { createWebServer, openCertificate } from './tls/web';
import { startForwarding } from './forward/setup';
import { REALTIME_PREFIX, RealtimeService } from './realtime/service';
import type { ForwardService } from './forward/service';

/**
 * A request target that is exactly /hls/<segment>/<segment>[?query], with nothing a URL parser would
 * change (no percent escapes, backslashes or fragments), so its pathname and search are plain slices.
 * Dot segments ("." / "..") need no normalising either: no stream id or file name is one (404 both ways).
 */
const HLS_FAST_PATH = /^\/hls\/[^/?#%\\]+\/[^/?#%\\]+(?:\?[^#]*)?$/;

/** How long the drain waits for RTMP players to take their Play.Stop and for held HLS requests to be answered. */
const DRAIN_FLUSH_MS = 2000;

export const ROOT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface StartOptions {
  config: Config;
  logger: Logger;
  /** Serve the Next.js pages. Integration tests run the server without them. */
  withNext: boolean;
  /** Tests: how recording files are opened (to inject write errors). */
  recordOpenFile?: Parameters<typeof RecordingService.start>[0]['openFile'];
  /** Tests: how long a failed recording waits before it tries again, ms (default 10 s). */
  recordRetryMs?: number;
}

export interface RunningServer {
  httpPort: number;
  rtmpPort: number | null;
  ffmpeg: FfmpegInfo;
  hub: Hub;
  hls: HlsService;
  snapshots: SnapshotService;
  ingest: IngestService;
  registry: StreamRegistry;
  /** Forward targets (restream): their connections. */
  forwards: ForwardService;
  /** Who may manage streams (operator token, sign-in sessions, limits). */
  access: Access;
  credential: OperatorCredential;
  rtmp: RtmpServer;
  /** The HTTP front door (LL-HLS requests on the raw socket). */
  front: HttpFront;
  /** Recording and replay (server/record/). */
  recording: RecordingService;
  /** Realtime viewers: fMP4 over WebSocket at /realtime/<id> (server/realtime/). */
  realtime: RealtimeService;
  /** TLS_CERT/TLS_KEY: the certificate of the HTTPS (and RTMPS) listeners; `reload()` on SIGHUP. Null: plain HTTP. */
  tls: CertificateKeeper | null;
  /** HTTP_REDIRECT_PORT as bound (plain HTTP answering 301 to https), or null. */
  redirectPort: number | null;
  /** RTMPS_PORT as bound (RTMP over TLS), or null. */
  rtmpsPort: number | null;
  /** Graceful drain: stop accepting, end every stream through the hub, answer held requests, then close. */
  close(): Promise<void>;
  /** Drop everything now and SIGKILL every child (after the drain ran out of time, or on a crash). */
  cut(): void;
}

type NextHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;
type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

async function createNext(config: Config, upgrades: EventEmitter): Promise<{ handle: NextHandler; close: () => Promise<void> }> {
  const { default: next } = await import('next');
  // Next attaches its own (dev HMR) upgrade listener to `httpServer`. We hand it an emitter of our own,
  // so that only the upgrades we do not handle ourselves (everything but /ingest) ever reach it.
  const app = next({
    dev: config.dev,
    dir: ROOT_DIR,
    hostname: config.host,
    port: config.port,
    httpServer: upgrades as unknown as http.Server,
  });
  try {
    await app.prepare();
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    if (/production build/i.test(msg)) throw new StartupError('no production build of the pages: run `npm run build` first (`npm start` does it)');
    throw err;
  }
  const handle = app.getRequestHandler();
  return { handle: (req, res) => handle(req, res), close: () => app.close() };
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const { config, logger } = opts;
  const startedAt = Date.now();
  // A missing or bad certificate stops the start before anything is opened (one line naming the file).
  const tlsKeeper = config.tls ? openCertificate(config.tls, logger.child({ component: 'tls' })) : null;

  const ffmpeg = await locateFfmpeg(config.ffmpegPath);
  if (ffmpeg.found) {
    logger.info({ path: ffmpeg.path, version: ffmpeg.version, source: ffmpeg.source }, `ffmpeg ${ffmpeg.version} from ${ffmpeg.source}`);
    for (const s of ffmpeg.skipped) if (s.startsWith('FFMPEG_PATH')) logger.warn(`ffmpeg candidate skipped: ${s}`);
  } else {
    logger.warn({ skipped: ffmpeg.skipped }, `browser ingest unavailable: ${ffmpeg.reason}`);
  }

  let registry: StreamRegistry;
  let credential: OperatorCredential;
  try {
    registry = await StreamRegistry.open(config.dataDir, config.maxStreams);
  } catch (err) {
    if (err instanceof StoreError) throw new StartupError(err.message);
    throw err;
  }
  try {
    credential = OperatorCredential.load(config.dataDir, config.adminToken);
  } catch (err) {
    registry.db.close();
    throw new StartupError(`operator token: ${(err as Error).message}`);
  }
  const sessions = new SessionStore(registry.db, credential.fingerprint);
  const access = new Access({
    credential,
    sessions,
    broadcastAuth: config.broadcastAuth,
    publicUrl: config.publicUrl,
    createsPerMinute: config.createRatePerMinute,
    tls: tlsKeeper !== null,
  });
  if (config.broadcastAuth === 'open') {
    logger.warn(`BROADCAST_AUTH=open: anyone who reaches this server may create streams (${config.createRatePerMinute} a minute per address)`);
  }
  /** Database writes that are not a request's (marks, sweeps): a failure is logged, never fatal. */
  const background = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      logger.error({ err }, `${what} failed`);
    }
  };
  const sweep = () =>
    background('expiring unused streams', () => {
      if (config.streamUnusedExpireMs > 0) {
        const gone = registry.expireUnused(Date.now() - config.streamUnusedExpireMs);
        if (gone.length) logger.info({ count: gone.length }, `deleted ${gone.length} streams never published in ${config.streamUnusedExpireMs / 86_400_000} days`);
      }
      sessions.sweep();
    });
  sweep();
  const sweeper = setInterval(sweep, 3600_000);
  sweeper.unref();
  const hub = new Hub({
    graceMs: config.publisherGraceMs,
    onListenerError: (err, where) => logger.error({ err }, `hub: ${where} failed`),
  });
  if (config.publishAuth === 'none') logger.warn('PUBLISH_AUTH=none: anyone can publish to any stream name');
  hub.events.on('publish', ({ id }) => background('recording the live time', () => registry.markLive(id)));

  const upgrades = new EventEmitter();
  const nextApp = opts.withNext ? await createNext(config, upgrades) : null;
  // From here: the start-up (Next's prepare loads its modules in long synchronous runs) is not the server lagging.
  const loop = new EventLoopMonitor();

  const rtmpLog = logger.child({ component: 'rtmp' });
  // The publish hook (server/hooks/publish-hook.ts): asked before RTMP and browser publishes are accepted.
  const publishHook = config.publishHook
    ? new PublishHook({ ...config.publishHook, secret: config.webhooks.secret, log: logger.child({ component: 'publish-hook' }) })
    : null;
  const rtmp = new RtmpServer(
    { maxConnections: config.rtmpMaxConnections, ...config.rtmpLimits, log: rtmpLog },
    rtmpRelay({
      hub,
      registry,
      publishAuth: config.publishAuth,
      log: rtmpLog,
      flushMs: config.rtmpWriteBatchMs,
      videoFlushMs: config.rtmpWriteBatchMs,
      publishHook: publishHook ? (r) => publishHook.check(r) : undefined,
    }),
  );
  let rtmpPort: number | null = null;
  let recording: RecordingService;
  try {
    recording = await RecordingService.start({
      db: registry.db,
      hub,
      access,
      enabled: config.record,
      recordFor: (id) => registry.get(id)?.record ?? config.record,
      dir: config.recordingsDir,
      retentionMs: config.recordRetentionMs,
      maxBytes: config.recordMaxBytes,
      minFreeBytes: config.recordMinFreeBytes,
      publicUrl: config.publicUrl,
      rtmpPort: () => rtmpPort,
      log: logger.child({ component: 'record' }),
      openFile: opts.recordOpenFile,
      retryMs: opts.recordRetryMs,
    });
  } catch (err) {
    registry.db.close();
    throw new StartupError(`RECORDINGS_DIR ${config.recordingsDir}: ${(err as Error).message}`);
  }
  let rtmpsPort: number | null = null;
  const rtmps =
    tlsKeeper && config.rtmpsPort !== null
      ? createRtmpsServer({
          keeper: tlsKeeper,
          rtmp,
          handshakeTimeoutMs: config.rtmpLimits.handshakeTimeoutMs,
          maxConnections: config.rtmpMaxConnections,
          maxConnectionsPerAddress: config.rtmpLimits.maxConnectionsPerAddress,
          log: rtmpLog,
        })
      : null;
  /** Where our ingest ffmpeg publishes: a listener of its own on loopback, so no outside client counts as ours. */
  let internalRtmpPort: number | null = null;
  const internalRtmpHost = config.host === '::1' ? '::1' : '127.0.0.1';
  const hls = new HlsService(hub, {
    segmentTarget: config.hlsSegmentTarget,
    partTarget: config.hlsPartTarget,
    partHoldBackParts: config.hlsPartHoldBackParts,
    idleStopMs: config.hlsIdleStopMs,
    onPartReady: (ms) => metrics.observePart(ms),
    maxWaiters: config.hlsMaxHeldPerStream,
    maxHeldPerConnection: config.hlsMaxHeldPerConnection,
    maxHeldPerAddress: config.hlsMaxHeldPerAddress,
    keepPackaging: recording.keepPackaging,
    onSegment: recording.segment,
    log: logger.child({ component: 'hls' }),
  });
  const snapshots = new SnapshotService({ ffmpeg, hub, hls, log: logger.child({ component: 'snapshot' }) });
  recording.setSnapshotSource(async (id) => {
    const shot = await snapshots.get(id);
    return shot.ok ? shot.jpeg : null;
  });
  const ingest = new IngestService({
    hub,
    registry,
    ffmpeg,
    rtmpBase: () => `rtmp://${internalRtmpHost.includes(':') ? `[${internalRtmpHost}]` : internalRtmpHost}:${internalRtmpPort}/live`,
    // With open publishing the relay takes the name as the stream id; otherwise a key for this session only.
    publishName: config.publishAuth === 'none' ? (id) => ({ key: id, revoke: () => undefined }) : undefined,
    urls: (req, id) => {
      const { origin, rtmp: rtmpBase } = baseUrls(req, config.publicUrl, rtmpPort);
      return { watch: `${origin}/watch/${id}`, hls: `${origin}/hls/${id}/index.m3u8`, rtmpPlay: `${rtmpBase}/${id}` };
    },
    log: logger.child({ component: 'ingest' }),
    publishHook: publishHook ? (r) => publishHook.check(r) : undefined,
    limits: {
      maxSessions: config.ingestMaxSessions,
      maxSocketsPerAddress: config.ingestMaxSocketsPerAddress,
      maxPendingSockets: config.ingestMaxPendingSockets,
      mediaTimeoutMs: config.ingestMediaTimeoutMs,
    },
  });
  // Webhooks (server/hooks): hub events queued per receiver, sent in the background.
  const webhooks = new WebhookSender({ ...config.webhooks, maxAttempts: 5, backoffMs: 500, log: logger.child({ component: 'webhooks' }) });
  webhooks.attach(hub);
  const realtime = new RealtimeService({ hub, registry, limits: config.realtime, writeBatchMs: config.realtime.writeBatchMs, log: logger.child({ component: 'realtime' }) });
  const forwarding = startForwarding({ config: config.forward, writeBatchMs: config.rtmpWriteBatchMs, hub, registry, access, log: logger.child({ component: 'forward' }) });
  // Prometheus metrics (server/metrics): read from the components at each scrape.
  const metrics = new Metrics(
    {
      activeStreams: () => hub.activeStats(),
      registeredStreams: () => registry.size,
      hubTotals: () => hub.totals,
      rtmp: () => rtmp.stats(),
      rtmpTraffic: () => rtmp.traffic(),
      ingest: () => ingest.counts(),
      snapshotFfmpeg: () => snapshots.active,
      hlsViewers: (id) => hls.viewers(id),
      hlsHeldRequests: () => hls.heldRequests,
      hlsBytesOut: () => hls.bytesOut,
      hlsRequests: () => hls.requests,
      eventLoop: () => loop.stats(),
      realtimeViewers: (id) => realtime.viewersOf(id),
      extra: [(r) => webhooksMetrics(r, webhooks), (r) => recordingMetrics(r, recording), (r) => forwardMetrics(r, forwarding.service)],
    },
    { token: config.metricsToken },
  );
  webhooks.attachRecording(recording.events);
  webhooks.attachForwarding(forwarding.service.events);
  const apiDeps = {
    forwards: forwarding.api,
    hub,
    registry,
    access,
    rtmpPort: () => rtmpPort,
    rtmpsPort: () => rtmpsPort,
    publicUrl: config.publicUrl,
    extraViewers: (id: string) => hls.viewers(id) + realtime.viewersOf(id),
    snapshotAvailable: (id: string) => snapshots.available(id),
    recordDefault: config.record,
    onDeleted: (id: string) => ingest.endStream(id, 'this stream was deleted'),
  };

  // A request head must arrive within HTTP_HEAD_TIMEOUT_SECONDS (checked every second), a whole request within 30 s
  // (or that, if longer); the front door applies the same head timeout to the connections it still holds.
  const { server, connectionEvent } = createWebServer({
    options: {
      headersTimeout: config.httpHeadTimeoutMs,
      requestTimeout: Math.max(30_000, config.httpHeadTimeoutMs),
      connectionsCheckingInterval: 1000,
    },
    keeper: tlsKeeper,
    headTimeoutMs: config.httpHeadTimeoutMs,
    maxConnectionsPerAddress: config.httpMaxConnectionsPerAddress,
    exempt: (addr) => config.trustProxy.trusts(addr),
    log: logger.child({ component: 'tls' }),
  });
  server.maxConnections = config.httpMaxConnections;
  let httpPort = config.port;
  /** A target that matches HLS_FAST_PATH, answered without a URL object or a promise: its own pathname and search. */
  const answerPlainHls = (method: string, target: string, reply: HlsReply): boolean => {
    const q = target.indexOf('?');
    return hls.answer(method, q < 0 ? target : target.slice(0, q), q < 0 ? '' : target.slice(q), reply);
  };
  // LL-HLS requests on connections that carry nothing else are parsed and answered by the front door, on the raw
  // socket; everything else is Node's (see server/http/front.ts).
  const front = new HttpFront({
    http: server,
    prefix: '/hls/',
    route: (method, target, reply) => HLS_FAST_PATH.test(target) && answerPlainHls(method, target, reply),
    headTimeoutMs: config.httpHeadTimeoutMs,
    maxConnectionsPerAddress: config.httpMaxConnectionsPerAddress,
    log: logger.child({ component: 'http-front' }),
    connectionEvent,
    trust: config.trustProxy,
  });

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = parseTarget(req.url);
    if (!url) {
      sendError(res, 400, 'malformed request target');
      return;
    }
    if (url.pathname === '/healthz') {
      const httpConnections = await new Promise<number>((resolve) => server.getConnections((err, n) => resolve(err ? -1 : n)));
      const report = healthReport({
        startedAt,
        httpPort,
        rtmpPort,
        ffmpeg,
        loop,
        maxEventLoopDelayMs: config.healthMaxEventLoopDelayMs,
        memory: process.memoryUsage(),
        counts: {
          httpConnections,
          rtmpConnections: rtmp.connectionCount,
          rtmpMaxConnections: config.rtmpMaxConnections,
          rtmp: rtmp.stats(),
          liveStreams: hub.activeStats().length,
          ingest: ingest.counts(),
          snapshotFfmpeg: snapshots.active,
          hlsHeldRequests: hls.heldRequests,
          realtime: realtime.counts(),
        },
      });
      sendJson(res, report.status, report.body, report.status === 503 ? { 'Retry-After': '5' } : {});
      return;
    }
    if (url.pathname.startsWith('/hls/') && (await hls.handle(req, res, url))) return;
    if (url.pathname === '/metrics') {
      await metrics.handle(req, res);
      return;
    }
    if (url.pathname === '/api/time') {
      // For viewers' clock offsets (latency readouts): the server's clock, to the millisecond.
      sendJson(res, 200, { now: Date.now() });
      return;
    }
    if (url.pathname === '/api/ingest' && req.method === 'GET') {
      sendJson(res, 200, ingest.info());
      return;
    }
    const snapshot = SNAPSHOT_PATH.exec(url.pathname);
    if (snapshot) {
      await serveSnapshot(req, res, snapshot[1], snapshots);
      return;
    }
    if (url.pathname.startsWith('/api/')) {
      if (await recording.handle(req, res, url)) return;
      if (await handleApi(req, res, url, apiDeps)) return;
      sendError(res, 404, `no API route ${req.method} ${url.pathname}`);
      return;
    }
    if (nextApp) return nextApp.handle(req, res);
    sendError(res, 404, 'not found');
  };

  const failed = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    const status = err instanceof HttpError ? err.status : 500;
    if (status >= 500) logger.error({ err, url: req.url }, 'request failed');
    if (status === 413) {
      // The rest of the body is not read: answer, then close the connection.
      res.setHeader('Connection', 'close');
      res.on('finish', () => req.socket.destroy());
    }
    if (!res.headersSent) sendError(res, status, err instanceof HttpError ? err.message : 'internal error', err instanceof HttpError ? err.headers : {});
    else res.destroy();
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // TRUST_PROXY: from a trusted peer, the client is the one its X-Forwarded-For names (clientAddress(req)).
    tagClient(req, config.trustProxy);
    // LL-HLS requests on connections Node has (the front door handed them over) skip the URL object and the promise.
    const target = req.url ?? '/';
    if (HLS_FAST_PATH.test(target)) {
      try {
        if (answerPlainHls(req.method ?? 'GET', target, new NodeReply(req, res))) return;
      } catch (err) {
        failed(req, res, err);
        return;
      }
    }
    route(req, res).catch((err: unknown) => failed(req, res, err));
  });

  const ownUpgrades = new Map<string, UpgradeHandler>([
    [
      '/ingest',
      (req, socket, head) => {
        // A page elsewhere must not broadcast through its visitors' browsers (WebSockets are not bound by CORS).
        if (!originAllowed(req, config.publicUrl)) socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        else ingest.handleUpgrade(req, socket, head);
      },
    ],
    // Viewing needs no Origin check (as /hls and RTMP play); matched on the prefix below.
    [REALTIME_PREFIX, (req, socket, head) => realtime.handleUpgrade(req, socket, head, parseTarget(req.url)?.pathname ?? '')],
  ]);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    tagClient(req, config.trustProxy);
    // Nothing a client sends may throw out of here (it would reach uncaughtException and leave the socket open).
    try {
      const url = parseTarget(req.url);
      if (!url) {
        refuseUpgrade(socket, 400, 'Bad Request');
        return;
      }
      const pathname = url.pathname;
      const own = ownUpgrades.get(pathname.startsWith(REALTIME_PREFIX) ? REALTIME_PREFIX : pathname);
      logger.debug({ pathname, next: upgrades.listenerCount('upgrade') }, 'upgrade');
      if (own) own(req, socket, head);
      else if (nextApp && upgrades.listenerCount('upgrade') > 0) upgrades.emit('upgrade', req, socket, head);
      else refuseUpgrade(socket, 404, 'Not Found');
    } catch (err) {
      logger.error({ err, url: req.url }, 'upgrade failed');
      refuseUpgrade(socket, 500, 'Internal Server Error');
    }
  });

  const redirect =
    config.httpRedirectPort !== null
      ? createRedirectServer({ httpsPort: () => httpPort, publicUrl: config.publicUrl, headTimeoutMs: config.httpHeadTimeoutMs, maxConnections: config.httpMaxConnections })
      : null;
  let redirectPort: number | null = null;
  rtmpPort = await listen(rtmp.netServer, config.rtmpPort, config.host, 'RTMP_PORT');
  try {
    internalRtmpPort = await listen(rtmp.internalNetServer, 0, internalRtmpHost, 'the internal RTMP port');
    if (rtmps && config.rtmpsPort !== null) rtmpsPort = await listen(rtmps, config.rtmpsPort, config.host, 'RTMPS_PORT');
    httpPort = await listen(server, config.port, config.host, 'PORT');
    if (config.httpRedirectPort !== null) {
      redirectPort = await listen(redirect!, config.httpRedirectPort, config.host, 'HTTP_REDIRECT_PORT');
    }
  } catch (err) {
    server.close();
    rtmps?.close();
    await rtmp.close();
    throw err;
  }
  logger.info({ port: rtmpPort, internalPort: internalRtmpPort }, `RTMP listening on rtmp://${config.host}:${rtmpPort}/live`);
  if (rtmpsPort !== null) logger.info({ port: rtmpsPort }, `RTMPS listening on rtmps://${config.host}:${rtmpsPort}/live`);
  const scheme = tlsKeeper ? 'https' : 'http';
  logger.info({ port: httpPort, host: config.host, dev: config.dev, tls: !!tlsKeeper }, `HTTP listening on ${scheme}://${config.host}:${httpPort}`);
  if (tlsKeeper) {
    logger.info({ certFile: tlsKeeper.files.certFile }, `TLS certificate: ${tlsKeeper.describe()} (reloaded on SIGHUP or when the files change)`);
    tlsKeeper.watch();
  }
  const insecure = secureContextAdvice({ tls: !!tlsKeeper, host: config.host, publicUrl: config.publicUrl, port: httpPort });
  if (insecure) logger.warn(insecure);
  if (redirectPort !== null) logger.info({ port: redirectPort }, `HTTP_REDIRECT_PORT ${redirectPort}: plain HTTP answers 301 to https`);
  if (credential.source !== 'env') {
    // The newcomer's one step: this link signs the browser in (the token rides in the fragment, never sent or logged
    // by a browser). Not printed when ADMIN_TOKEN is set: that operator knows it.
    const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    const origin = config.publicUrl ?? `${scheme}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${httpPort}`;
    logger.info(
      { tokenFile: credential.file },
      `operator sign-in: ${credential.signInLink(origin)} (token in ${credential.file ?? 'memory'}${credential.source === 'created' ? ', made now' : ''})`,
    );
  }

  let closing: Promise<void> | null = null;
  let cutDone = false;
  /** Everything still open is dropped now, every child process SIGKILLed. Synchronous: safe in an exit path. */
  const cut = (): void => {
    if (cutDone) return;
    cutDone = true;
    loop.close();
    metrics.close();
    webhooks.close();
    ingest.killAll();
    realtime.closeAll();
    forwarding.service.close();
    void snapshots.close();
    hls.close();
    front.closeAll();
    server.closeAllConnections();
    redirect?.closeAllConnections();
    tlsKeeper?.close();
    rtmps?.close();
    void rtmp.close();
  };
  return {
    httpPort,
    rtmpPort,
    ffmpeg,
    hub,
    hls,
    snapshots,
    ingest,
    registry,
    forwards: forwarding.service,
    access,
    credential,
    rtmp,
    front,
    recording,
    realtime,
    tls: tlsKeeper,
    redirectPort,
    rtmpsPort,
    cut,
    close() {
      // The drain (SIGTERM/SIGINT; tests): stop accepting at once, tell the pages, end every stream through the hub
      // so viewers hear of it, give those last bytes a moment, then close what is left.
      closing ??= (async () => {
        ingest.stopAccepting();
        realtime.stopAccepting();
        const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        tlsKeeper?.close();
        redirect?.close();
        redirect?.closeAllConnections();
        rtmp.netServer.close();
        rtmp.internalNetServer.close();
        rtmps?.close();
        // Pages get 1012 "server restarting" (they come back with backoff); their ffmpegs are stopped.
        const ingestDone = ingest.close();
        const snapshotsDone = snapshots.close();
        // Every stream ends: RTMP players get UnpublishNotify + Play.Stop, the LL-HLS playlists EXT-X-ENDLIST, and
        // the blocked playlist and part requests are answered with it.
        hub.close('server stopping');
        forwarding.service.close();
        const deadline = Date.now() + DRAIN_FLUSH_MS;
        while (Date.now() < deadline && (hls.heldRequests > 0 || rtmp.connectionCount > 0)) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 50)); // the answers just written leave the socket buffers
        hls.close();
        await Promise.all([ingestDone, snapshotsDone, recording.close()]);
        await rtmp.close();
        realtime.closeAll();
        front.closeAll();
        server.closeAllConnections();
        await httpClosed;
        if (nextApp) await nextApp.close().catch(() => undefined);
        clearInterval(sweeper);
        registry.db.close();
        loop.close();
        metrics.close();
        webhooks.close();
      })();
      return closing;
    },
  };
}
