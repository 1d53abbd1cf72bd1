import path from 'node:path';
import { z } from 'zod';

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
  /** Stop packaging a stream as LL-HLS after this many seconds without an HLS request; 0 packages every stream always. */
  HLS_IDLE_STOP_SECONDS: z.coerce.number().min(0).max(3600).default(60),
  /** RTMP players' media is written in batches at most this many ms old (server/relay/fanout.ts); 0 = every message at once. */
  RTMP_WRITE_BATCH_MS: z.coerce.number().int().min(0).max(1000).optional(),
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
  hlsIdleStopMs: number;
  /** Undefined: the relay's default (fanout.ts DEFAULT_FLUSH_MS). */
  rtmpWriteBatchMs: number | undefined;
  ingestMaxSessions: number;
  ingestMaxSocketsPerAddress: number;
  ingestMaxPendingSockets: number;
  ingestMediaTimeoutMs: number;
  shutdownTimeoutMs: number;
  healthMaxEventLoopDelayMs: number;
  dev: boolean;
};

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
      return `invalid ${name}=${JSON.stringify(picked[name] ?? '')}: ${issue.message}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  const c = result.data;
  if (c.HLS_PART_TARGET > c.HLS_SEGMENT_TARGET) {
    throw new ConfigError(
      `invalid HLS_PART_TARGET=${c.HLS_PART_TARGET}: must not exceed HLS_SEGMENT_TARGET=${c.HLS_SEGMENT_TARGET}`,
    );
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
    hlsIdleStopMs: c.HLS_IDLE_STOP_SECONDS * 1000,
    rtmpWriteBatchMs: c.RTMP_WRITE_BATCH_MS,
    ingestMaxSessions: c.INGEST_MAX_SESSIONS,
    ingestMaxSocketsPerAddress: c.INGEST_MAX_SOCKETS_PER_ADDRESS,
    ingestMaxPendingSockets: c.INGEST_MAX_PENDING_SOCKETS,
    ingestMediaTimeoutMs: c.INGEST_MEDIA_TIMEOUT_SECONDS * 1000,
    shutdownTimeoutMs: c.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    healthMaxEventLoopDelayMs: c.HEALTH_MAX_EVENT_LOOP_DELAY_MS,
    dev: opts.dev ?? false,
  };
}
