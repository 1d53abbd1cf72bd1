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
  httpMaxConnections: number;
  httpMaxConnectionsPerAddress: number;
  httpHeadTimeoutMs: number;
  hlsMaxHeldPerConnection: number;
  hlsMaxHeldPerAddress: number;
  hlsMaxHeldPerStream: number;
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
    httpMaxConnections: c.HTTP_MAX_CONNECTIONS,
    httpMaxConnectionsPerAddress: c.HTTP_MAX_CONNECTIONS_PER_ADDRESS,
    httpHeadTimeoutMs: c.HTTP_HEAD_TIMEOUT_SECONDS * 1000,
    hlsMaxHeldPerConnection: c.HLS_MAX_HELD_PER_CONNECTION,
    hlsMaxHeldPerAddress: c.HLS_MAX_HELD_PER_ADDRESS,
    hlsMaxHeldPerStream: c.HLS_MAX_HELD_PER_STREAM,
    dev: opts.dev ?? false,
  };
}
