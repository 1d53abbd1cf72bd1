import path from 'node:path';
import { z } from 'zod';
import { MIN_TOKEN_LENGTH } from './auth/operator';
import { TrustProxy } from './http/trust-proxy';

/** Every setting the server reads from its environment, validated once at start. */
const portSchema = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().positive().max(60);

const schema = z.object({
  PORT: portSchema.default(3000),
  RTMP_PORT: portSchema.default(1935),
  HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_URL: z
    .string()
    .url()
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  FFMPEG_PATH: z.string().min(1).optional(),
  PUBLISH_AUTH: z.enum(['key', 'none']).default('key'),
  RTMP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(100000).default(5000),
  PUBLISHER_GRACE_SECONDS: z.coerce.number().min(0).max(600).default(10),
  HLS_SEGMENT_TARGET: seconds.default(1),
  HLS_PART_TARGET: seconds.default(0.2),
  /** PART-HOLD-BACK in part targets: where stock LL-HLS players start. RFC 8216bis: at least 2, SHOULD be 3 or more. */
  HLS_PART_HOLD_BACK_PARTS: z.coerce.number().min(2).max(10).default(3),
  /** Stop packaging a stream as LL-HLS after this many seconds without an HLS request; 0 packages every stream always. */
  HLS_IDLE_STOP_SECONDS: z.coerce.number().min(0).max(3600).default(60),
  /** RTMP players' media is written in batches at most this many ms old (server/relay/fanout.ts); 0 = every message at once. */
  RTMP_WRITE_BATCH_MS: z.coerce.number().int().min(0).max(1000).optional(),
  // ---- operator access (issue 13) ----
  /** The operator token; unset: DATA_DIR/admin-token, made on first start. */
  ADMIN_TOKEN: z
    .string()
    .min(MIN_TOKEN_LENGTH, `must be at least ${MIN_TOKEN_LENGTH} characters`)
    .max(512)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
    .optional(),
  /** token: creating streams needs the operator; open: anyone may (rate-limited per address). */
  BROADCAST_AUTH: z.enum(['token', 'open']).default('token'),
  MAX_STREAMS: z.coerce.number().int().min(1).max(10_000_000).default(10_000),
  /** Streams never published are deleted after this many days; 0 keeps them. */
  STREAM_UNUSED_EXPIRE_DAYS: z.coerce.number().min(0).max(36500).default(30),
  /** Streams anyone but the operator may create per minute per address (BROADCAST_AUTH=open). */
  CREATE_RATE_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(10),
  // ---- RTMP limits (issue 14; server/rtmp/server.ts, session.ts, chunk.ts; docs/architecture.md "RTMP limits") ----
  /** Deadline of the RTMP handshake from accept; 0 = none. */
  RTMP_HANDSHAKE_TIMEOUT_SECONDS: z.coerce.number().min(0).max(600).default(10),
  /** Deadline from the end of the handshake to the first accepted publish or play; 0 = none. */
  RTMP_PUBLISH_PLAY_TIMEOUT_SECONDS: z.coerce.number().min(0).max(3600).default(15),
  /** A non-player that sends nothing, or any connection that takes nothing of what waits for it, for this long is closed; 0 = never. */
  RTMP_IDLE_TIMEOUT_SECONDS: z.coerce.number().min(0).max(3600).default(30),
  /** Of RTMP_MAX_CONNECTIONS, slots players can never take (kept for publishers). */
  RTMP_RESERVED_PUBLISHER_CONNECTIONS: z.coerce.number().int().min(0).max(100000).default(50),
  /** RTMP connections at once from one outside address (loopback is counted apart); 0 = no limit. */
  RTMP_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(0).max(100000).default(64),
  /** Bytes an RTMP connection may hold (partial messages + unsent replies) before it publishes or plays. */
  RTMP_MAX_BUFFER_BYTES_BEFORE_AUTH: z.coerce.number().int().min(16 * 1024).max(64 * 1024 * 1024).default(256 * 1024),
  /** Bytes of partial messages an RTMP connection may hold after it publishes or plays (at least one 8 MiB message). */
  RTMP_MAX_BUFFER_BYTES_PER_CONNECTION: z.coerce.number().int().min(8 * 1024 * 1024).max(1024 * 1024 * 1024).default(16 * 1024 * 1024),
  /** Bytes of partial messages of all RTMP connections together. */
  RTMP_MAX_BUFFER_BYTES_TOTAL: z.coerce.number().int().min(16 * 1024 * 1024).max(16 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
  /** onMetaData bigger than this (as sent, or with its AMF0 references expanded) is ignored. */
  RTMP_MAX_METADATA_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
  /** Average messages a second an RTMP connection may send (bursts of 2 s worth); over it: onStatus error, closed. 0 = no limit. */
  RTMP_MAX_MESSAGES_PER_SECOND: z.coerce.number().int().min(0).max(1_000_000).default(1000),
  // ---- HTTP and LL-HLS limits (issue 14; docs/architecture.md "HTTP and LL-HLS limits") ----
  /** Open HTTP connections in all; beyond it a new connection is closed at once (net.Server maxConnections). */
  HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
  /** Open HTTP connections per client address; beyond it a new one gets 503 with Retry-After and is closed. */
  HTTP_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(512),
  /** Longest a request head may take to arrive, seconds (front door and Node's headersTimeout). */
  HTTP_HEAD_TIMEOUT_SECONDS: z.coerce.number().positive().max(300).default(10),
  /** Blocked LL-HLS requests held per connection / per client address (over the limit: 429) and per stream (503). */
  HLS_MAX_HELD_PER_CONNECTION: z.coerce.number().int().min(1).max(1_000_000).default(4),
  HLS_MAX_HELD_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(500),
  HLS_MAX_HELD_PER_STREAM: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
  // --- browser ingest, process limits, drain (issue 14) ---
  /** Browser broadcasts at once: sessions awaiting their first media plus ingest ffmpegs (default: docs/BENCHMARKS.md, remux 16/16 kept up). */
  INGEST_MAX_SESSIONS: z.coerce.number().int().min(1).max(10000).default(16),
  /** /ingest WebSockets open at once from one client address. */
  INGEST_MAX_SOCKETS_PER_ADDRESS: z.coerce.number().int().min(1).max(10000).default(8),
  /** /ingest WebSockets at once, in the whole server, that have not had a `start` accepted. */
  INGEST_MAX_PENDING_SOCKETS: z.coerce.number().int().min(1).max(100000).default(64),
  /** An accepted broadcast that sends no media for this long (first chunk, or later) is closed (4408). */
  INGEST_MEDIA_TIMEOUT_SECONDS: z.coerce.number().positive().max(600).default(5),
  /** On SIGTERM/SIGINT: how long the drain may take before everything is cut. */
  SHUTDOWN_TIMEOUT_SECONDS: z.coerce.number().positive().max(600).default(10),
  /** /healthz answers 503 when the event loop's delay p99 (last ~10 s) is above this, ms. */
  HEALTH_MAX_EVENT_LOOP_DELAY_MS: z.coerce.number().int().min(1).max(600000).default(1000),
  // ---- operations (issue 18: server/metrics, server/hooks) ----
  /**
   * TCP peers whose X-Forwarded-For names the client (a reverse proxy or cache in front): addresses, CIDR blocks,
   * `loopback`, `private`, comma-separated. Unset: trust none (server/http/trust-proxy.ts).
   */
  TRUST_PROXY: z
    .string()
    .max(4096)
    .optional()
    .superRefine((v, ctx) => {
      try {
        TrustProxy.parse(v);
      } catch (err) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
      }
    }),
  /** When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; unset, /metrics is open. */
  METRICS_TOKEN: z
    .string()
    .min(16)
    .max(1024)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
    .optional(),
  /** Webhook receivers, comma-separated http(s) URLs; unset: no webhooks. */
  WEBHOOK_URL: z
    .string()
    .max(8192)
    .refine((v) => v.split(',').every((u) => /^https?:\/\/[^\s,]+$/.test(u.trim())), 'comma-separated http:// or https:// URLs')
    .optional(),
  /** HMAC-SHA256 key of the webhook signatures; unset: events are not signed. */
  WEBHOOK_SECRET: z.string().min(16).max(1024).optional(),
  /** Events waiting per receiver; beyond it the oldest is dropped. */
  WEBHOOK_QUEUE_MAX: z.coerce.number().int().min(1).max(100_000).default(1000),
  /** One delivery attempt's deadline. */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  /** Asked before every publish (RTMP and browser): 2xx allows, anything else refuses with its reason. */
  PUBLISH_HOOK_URL: z.string().max(2048).regex(/^https?:\/\/\S+$/, 'an http:// or https:// URL').optional(),
  /** How long a publish waits for the hook (below the 10 s a browser has to send its start). */
  PUBLISH_HOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(9000).default(3000),
  PUBLISH_HOOK_ON_TIMEOUT: z.enum(['allow', 'deny']).default('deny'),
  // ---- recording (issue 15; server/record/) ----
  /** on: every broadcast is recorded (and so packaged as it goes); off: nothing is. */
  RECORD: z.enum(['on', 'off']).default('on'),
  /** Where recordings go; unset: DATA_DIR/recordings. */
  RECORDINGS_DIR: z.string().min(1).optional(),
  /** Finished recordings older than this many days are deleted; 0 keeps them. */
  RECORD_RETENTION_DAYS: z.coerce.number().min(0).max(36500).default(30),
  /** Recordings take at most this many bytes in all (oldest finished ones deleted first); 0: no limit. */
  RECORD_MAX_BYTES: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  /** A recording stops (failed) when its filesystem has less than this free; 0: only a full disk stops it. */
  RECORD_MIN_FREE_BYTES: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(1024 * 1024 * 1024),
  // ---- TLS (issues 16, 18; server/tls/) ----
  /** PEM certificate chain and private key files: set both to serve PORT over HTTPS (reloaded on SIGHUP or change). */
  TLS_CERT: z.string().min(1).optional(),
  TLS_KEY: z.string().min(1).optional(),
  /** With TLS: a plain-HTTP port that answers 301 to the same path over https. */
  HTTP_REDIRECT_PORT: portSchema.optional(),
  /** With TLS: an RTMPS port (RTMP over TLS, same certificate) for OBS and ffmpeg. */
  RTMPS_PORT: portSchema.optional(),
  // ---- forward targets (issue 16; server/forward/) ----
  /** A forward target must accept the publish (TCP, TLS, handshake, connect ... publish) within this long. */
  FORWARD_CONNECT_TIMEOUT_SECONDS: z.coerce.number().positive().max(300).default(10),
  /** First retry of a target that refused or dropped after this long, doubling per failure up to the max. */
  FORWARD_RETRY_MIN_SECONDS: z.coerce.number().positive().max(3600).default(1),
  FORWARD_RETRY_MAX_SECONDS: z.coerce.number().positive().max(3600).default(30),
  /** A PEM file of extra CAs trusted for rtmps:// targets (besides Node's bundled ones). */
  FORWARD_TLS_CA_FILE: z.string().min(1).optional(),
  /** Testing only: rtmps:// targets' certificates are not checked at all. */
  FORWARD_TLS_ALLOW_SELF_SIGNED: z.enum(['true', 'false', '1', '0']).default('false'),
  // ---- realtime viewers (issue 17; server/realtime/) ----
  /** /realtime/<id> WebSockets at once from one client address, and in the whole server. */
  REALTIME_MAX_SOCKETS_PER_ADDRESS: z.coerce.number().int().min(1).max(100_000).default(32),
  REALTIME_MAX_SOCKETS: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Realtime viewers' fragments are written in batches at most this many ms old (relay/fanout.ts); 0 = at once. */
  REALTIME_WRITE_BATCH_MS: z.coerce.number().int().min(0).max(1000).optional(),
});

export type Config = {
  port: number;
  rtmpPort: number;
  host: string;
  publicUrl: string | undefined;
  dataDir: string;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
  ffmpegPath: string | undefined;
  publishAuth: 'key' | 'none';
  rtmpMaxConnections: number;
  publisherGraceMs: number;
  hlsSegmentTarget: number;
  hlsPartTarget: number;
  hlsPartHoldBackParts: number;
  hlsIdleStopMs: number;
  /** Undefined: the relay's default (fanout.ts DEFAULT_FLUSH_MS). */
  rtmpWriteBatchMs: number | undefined;
  adminToken: string | undefined;
  broadcastAuth: 'token' | 'open';
  maxStreams: number;
  /** 0: never. */
  streamUnusedExpireMs: number;
  createRatePerMinute: number;
  /** RTMP limits (issue 14), named as RtmpServerOptions names them. */
  rtmpLimits: {
    handshakeTimeoutMs: number;
    publishPlayTimeoutMs: number;
    idleTimeoutMs: number;
    reservedPublisherConnections: number;
    maxConnectionsPerAddress: number;
    maxBufferBeforeAuth: number;
    maxBufferPerConnection: number;
    maxBufferTotal: number;
    maxMetadataBytes: number;
    maxMessagesPerSecond: number;
  };
  httpMaxConnections: number;
  httpMaxConnectionsPerAddress: number;
  httpHeadTimeoutMs: number;
  hlsMaxHeldPerConnection: number;
  hlsMaxHeldPerAddress: number;
  hlsMaxHeldPerStream: number;
  ingestMaxSessions: number;
  ingestMaxSocketsPerAddress: number;
  ingestMaxPendingSockets: number;
  ingestMediaTimeoutMs: number;
  shutdownTimeoutMs: number;
  healthMaxEventLoopDelayMs: number;
  metricsToken: string | undefined;
  /** TRUST_PROXY: which peers' X-Forwarded-For is believed. */
  trustProxy: TrustProxy;
  webhooks: { urls: string[]; secret: string | undefined; maxQueue: number; timeoutMs: number };
  publishHook: { url: string; timeoutMs: number; onTimeout: 'allow' | 'deny' } | null;
  record: boolean;
  recordingsDir: string;
  /** 0: kept. */
  recordRetentionMs: number;
  /** 0: no limit. */
  recordMaxBytes: number;
  recordMinFreeBytes: number;
  /** PEM files (absolute paths); null: plain HTTP. */
  tls: { certFile: string; keyFile: string } | null;
  httpRedirectPort: number | null;
  rtmpsPort: number | null;
  forward: {
    connectTimeoutMs: number;
    retryMinMs: number;
    retryMaxMs: number;
    tlsCaFile: string | undefined;
    tlsAllowSelfSigned: boolean;
  };
  /** Undefined writeBatchMs: the fan-out's default (fanout.ts DEFAULT_FLUSH_MS). */
  realtime: { maxSocketsPerAddress: number; maxSockets: number; writeBatchMs: number | undefined };
  dev: boolean;
};

/** Settings whose values never go into an error line. */
const SECRETS = new Set(['ADMIN_TOKEN', 'METRICS_TOKEN', 'WEBHOOK_SECRET']);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parse the environment. Throws ConfigError with one line per bad variable, naming it. */
export function loadConfig(env: Record<string, string | undefined> = process.env, opts: { dev?: boolean } = {}): Config {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    picked[key] = value === undefined || value.trim() === '' ? undefined : value.trim();
  }
  const result = schema.safeParse(picked);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const shown = SECRETS.has(name) ? '(hidden)' : JSON.stringify(picked[name] ?? '');
      return `invalid ${name}=${shown}: ${issue.message}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  const c = result.data;
  if (c.HLS_PART_TARGET > c.HLS_SEGMENT_TARGET) {
    throw new ConfigError(
      `invalid HLS_PART_TARGET=${c.HLS_PART_TARGET}: must not exceed HLS_SEGMENT_TARGET=${c.HLS_SEGMENT_TARGET}`,
    );
  }
  if (c.RTMP_RESERVED_PUBLISHER_CONNECTIONS >= c.RTMP_MAX_CONNECTIONS) {
    throw new ConfigError(
      `invalid RTMP_RESERVED_PUBLISHER_CONNECTIONS=${c.RTMP_RESERVED_PUBLISHER_CONNECTIONS}: must be less than RTMP_MAX_CONNECTIONS=${c.RTMP_MAX_CONNECTIONS}`,
    );
  }
  if ((c.TLS_CERT === undefined) !== (c.TLS_KEY === undefined)) {
    throw new ConfigError(`invalid ${c.TLS_CERT === undefined ? 'TLS_CERT' : 'TLS_KEY'}: not set; TLS_CERT and TLS_KEY go together (PEM files)`);
  }
  for (const [name, value] of [['HTTP_REDIRECT_PORT', c.HTTP_REDIRECT_PORT], ['RTMPS_PORT', c.RTMPS_PORT]] as const) {
    if (value !== undefined && c.TLS_CERT === undefined) throw new ConfigError(`invalid ${name}=${value}: needs TLS_CERT and TLS_KEY`);
  }
  return {
    port: c.PORT,
    rtmpPort: c.RTMP_PORT,
    host: c.HOST,
    publicUrl: c.PUBLIC_URL,
    dataDir: path.resolve(c.DATA_DIR),
    logLevel: c.LOG_LEVEL,
    ffmpegPath: c.FFMPEG_PATH,
    publishAuth: c.PUBLISH_AUTH,
    rtmpMaxConnections: c.RTMP_MAX_CONNECTIONS,
    publisherGraceMs: c.PUBLISHER_GRACE_SECONDS * 1000,
    hlsSegmentTarget: c.HLS_SEGMENT_TARGET,
    hlsPartTarget: c.HLS_PART_TARGET,
    hlsPartHoldBackParts: c.HLS_PART_HOLD_BACK_PARTS,
    hlsIdleStopMs: c.HLS_IDLE_STOP_SECONDS * 1000,
    rtmpWriteBatchMs: c.RTMP_WRITE_BATCH_MS,
    adminToken: c.ADMIN_TOKEN,
    broadcastAuth: c.BROADCAST_AUTH,
    maxStreams: c.MAX_STREAMS,
    streamUnusedExpireMs: c.STREAM_UNUSED_EXPIRE_DAYS * 86_400_000,
    createRatePerMinute: c.CREATE_RATE_PER_MINUTE,
    rtmpLimits: {
      handshakeTimeoutMs: c.RTMP_HANDSHAKE_TIMEOUT_SECONDS * 1000,
      publishPlayTimeoutMs: c.RTMP_PUBLISH_PLAY_TIMEOUT_SECONDS * 1000,
      idleTimeoutMs: c.RTMP_IDLE_TIMEOUT_SECONDS * 1000,
      reservedPublisherConnections: c.RTMP_RESERVED_PUBLISHER_CONNECTIONS,
      maxConnectionsPerAddress: c.RTMP_MAX_CONNECTIONS_PER_ADDRESS,
      maxBufferBeforeAuth: c.RTMP_MAX_BUFFER_BYTES_BEFORE_AUTH,
      maxBufferPerConnection: c.RTMP_MAX_BUFFER_BYTES_PER_CONNECTION,
      maxBufferTotal: c.RTMP_MAX_BUFFER_BYTES_TOTAL,
      maxMetadataBytes: c.RTMP_MAX_METADATA_BYTES,
      maxMessagesPerSecond: c.RTMP_MAX_MESSAGES_PER_SECOND,
    },
    httpMaxConnections: c.HTTP_MAX_CONNECTIONS,
    httpMaxConnectionsPerAddress: c.HTTP_MAX_CONNECTIONS_PER_ADDRESS,
    httpHeadTimeoutMs: c.HTTP_HEAD_TIMEOUT_SECONDS * 1000,
    hlsMaxHeldPerConnection: c.HLS_MAX_HELD_PER_CONNECTION,
    hlsMaxHeldPerAddress: c.HLS_MAX_HELD_PER_ADDRESS,
    hlsMaxHeldPerStream: c.HLS_MAX_HELD_PER_STREAM,
    ingestMaxSessions: c.INGEST_MAX_SESSIONS,
    ingestMaxSocketsPerAddress: c.INGEST_MAX_SOCKETS_PER_ADDRESS,
    ingestMaxPendingSockets: c.INGEST_MAX_PENDING_SOCKETS,
    ingestMediaTimeoutMs: c.INGEST_MEDIA_TIMEOUT_SECONDS * 1000,
    shutdownTimeoutMs: c.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    healthMaxEventLoopDelayMs: c.HEALTH_MAX_EVENT_LOOP_DELAY_MS,
    metricsToken: c.METRICS_TOKEN,
    trustProxy: TrustProxy.parse(c.TRUST_PROXY),
    webhooks: {
      urls: (c.WEBHOOK_URL ?? '').split(',').map((u) => u.trim()).filter(Boolean),
      secret: c.WEBHOOK_SECRET,
      maxQueue: c.WEBHOOK_QUEUE_MAX,
      timeoutMs: c.WEBHOOK_TIMEOUT_MS,
    },
    publishHook: c.PUBLISH_HOOK_URL ? { url: c.PUBLISH_HOOK_URL, timeoutMs: c.PUBLISH_HOOK_TIMEOUT_MS, onTimeout: c.PUBLISH_HOOK_ON_TIMEOUT } : null,
    record: c.RECORD === 'on',
    recordingsDir: path.resolve(c.RECORDINGS_DIR ?? path.join(c.DATA_DIR, 'recordings')),
    recordRetentionMs: c.RECORD_RETENTION_DAYS * 86_400_000,
    recordMaxBytes: c.RECORD_MAX_BYTES,
    recordMinFreeBytes: c.RECORD_MIN_FREE_BYTES,
    tls: c.TLS_CERT && c.TLS_KEY ? { certFile: path.resolve(c.TLS_CERT), keyFile: path.resolve(c.TLS_KEY) } : null,
    httpRedirectPort: c.HTTP_REDIRECT_PORT ?? null,
    rtmpsPort: c.RTMPS_PORT ?? null,
    forward: {
      connectTimeoutMs: c.FORWARD_CONNECT_TIMEOUT_SECONDS * 1000,
      retryMinMs: c.FORWARD_RETRY_MIN_SECONDS * 1000,
      retryMaxMs: Math.max(c.FORWARD_RETRY_MIN_SECONDS, c.FORWARD_RETRY_MAX_SECONDS) * 1000,
      tlsCaFile: c.FORWARD_TLS_CA_FILE ? path.resolve(c.FORWARD_TLS_CA_FILE) : undefined,
      tlsAllowSelfSigned: c.FORWARD_TLS_ALLOW_SELF_SIGNED === 'true' || c.FORWARD_TLS_ALLOW_SELF_SIGNED === '1',
    },
    realtime: { maxSocketsPerAddress: c.REALTIME_MAX_SOCKETS_PER_ADDRESS, maxSockets: c.REALTIME_MAX_SOCKETS, writeBatchMs: c.REALTIME_WRITE_BATCH_MS },
    dev: opts.dev ?? false,
  };
}
