import path from 'node:path';
import { z } from 'zod';
import { MIN_TOKEN_LENGTH } from './auth/operator';

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
  adminToken: string | undefined;
  broadcastAuth: 'token' | 'open';
  maxStreams: number;
  /** 0: never. */
  streamUnusedExpireMs: number;
  createRatePerMinute: number;
  dev: boolean;
};

/** Settings whose values never go into an error line. */
const SECRETS = new Set(['ADMIN_TOKEN']);

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
    adminToken: c.ADMIN_TOKEN,
    broadcastAuth: c.BROADCAST_AUTH,
    maxStreams: c.MAX_STREAMS,
    streamUnusedExpireMs: c.STREAM_UNUSED_EXPIRE_DAYS * 86_400_000,
    createRatePerMinute: c.CREATE_RATE_PER_MINUTE,
    dev: opts.dev ?? false,
  };
}
