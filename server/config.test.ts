import assert from 'node:assert/strict';
import path from 'node:path';
import net from 'node:net';
import { test } from 'node:test';
import { ConfigError, loadConfig } from './config';
import { listen, StartupError } from './net';

test('defaults, and values from the environment', () => {
  const d = loadConfig({});
  assert.equal(d.port, 3000);
  assert.equal(d.rtmpPort, 1935);
  assert.equal(d.publishAuth, 'key');
  assert.equal(d.publisherGraceMs, 10_000);
  assert.equal(d.hlsIdleStopMs, 60_000);
  assert.equal(d.rtmpWriteBatchMs, undefined);
  assert.equal(d.hlsPartHoldBackParts, 3);
  assert.equal(loadConfig({ HLS_PART_HOLD_BACK_PARTS: '2' }).hlsPartHoldBackParts, 2);
  const c = loadConfig({ PORT: '8080', RTMP_PORT: '1936', PUBLIC_URL: 'https://live.example.com/', PUBLISH_AUTH: 'none', LOG_LEVEL: 'debug', HLS_IDLE_STOP_SECONDS: '0', RTMP_WRITE_BATCH_MS: '0' });
  assert.equal(c.port, 8080);
  assert.equal(c.rtmpWriteBatchMs, 0);
  assert.equal(c.hlsIdleStopMs, 0);
  assert.equal(c.publicUrl, 'https://live.example.com');
  assert.equal(c.publishAuth, 'none');
});

test('operator access settings: defaults and values', () => {
  const d = loadConfig({});
  assert.deepEqual([d.adminToken, d.broadcastAuth, d.maxStreams, d.streamUnusedExpireMs, d.createRatePerMinute], [undefined, 'token', 10_000, 30 * 86_400_000, 10]);
  const c = loadConfig({ ADMIN_TOKEN: 'a-long-enough-token!', BROADCAST_AUTH: 'open', MAX_STREAMS: '50', STREAM_UNUSED_EXPIRE_DAYS: '0', CREATE_RATE_PER_MINUTE: '3' });
  assert.deepEqual([c.adminToken, c.broadcastAuth, c.maxStreams, c.streamUnusedExpireMs, c.createRatePerMinute], ['a-long-enough-token!', 'open', 50, 0, 3]);
});

test('a bad value names its variable', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /^invalid PORT="abc"/],
    [{ RTMP_PORT: '70000' }, /^invalid RTMP_PORT="70000"/],
    [{ LOG_LEVEL: 'loud' }, /^invalid LOG_LEVEL="loud"/],
    [{ PUBLIC_URL: 'not a url' }, /^invalid PUBLIC_URL/],
    [{ PUBLISH_AUTH: 'maybe' }, /^invalid PUBLISH_AUTH/],
    [{ HLS_IDLE_STOP_SECONDS: '-1' }, /^invalid HLS_IDLE_STOP_SECONDS/],
    [{ RTMP_WRITE_BATCH_MS: '2.5' }, /^invalid RTMP_WRITE_BATCH_MS/],
    [{ RTMP_WRITE_BATCH_MS: '5000' }, /^invalid RTMP_WRITE_BATCH_MS/],
    [{ HLS_PART_TARGET: '2', HLS_SEGMENT_TARGET: '1' }, /HLS_PART_TARGET=2: must not exceed HLS_SEGMENT_TARGET=1/],
    [{ HLS_PART_HOLD_BACK_PARTS: '1.5' }, /^invalid HLS_PART_HOLD_BACK_PARTS/],
    [{ BROADCAST_AUTH: 'anyone' }, /^invalid BROADCAST_AUTH="anyone"/],
    [{ MAX_STREAMS: '0' }, /^invalid MAX_STREAMS/],
    [{ STREAM_UNUSED_EXPIRE_DAYS: '-1' }, /^invalid STREAM_UNUSED_EXPIRE_DAYS/],
    [{ CREATE_RATE_PER_MINUTE: '0' }, /^invalid CREATE_RATE_PER_MINUTE/],
    // A bad token is named, never shown.
    [{ ADMIN_TOKEN: 'short-secret' }, /^invalid ADMIN_TOKEN=\(hidden\): must be at least 16 characters$/],
    [{ ADMIN_TOKEN: 'has spaces in the token' }, /^invalid ADMIN_TOKEN=\(hidden\)/],
  ];
  for (const [env, re] of cases) assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && re.test(e.message));
});

test('RTMP limits: defaults, values, and what is refused', () => {
  assert.deepEqual(loadConfig({}).rtmpLimits, {
    handshakeTimeoutMs: 10_000,
    publishPlayTimeoutMs: 15_000,
    idleTimeoutMs: 30_000,
    reservedPublisherConnections: 50,
    maxConnectionsPerAddress: 64,
    maxBufferBeforeAuth: 256 * 1024,
    maxBufferPerConnection: 16 * 1024 * 1024,
    maxBufferTotal: 256 * 1024 * 1024,
    maxMetadataBytes: 64 * 1024,
    maxMessagesPerSecond: 1000,
  });
  const c = loadConfig({ RTMP_HANDSHAKE_TIMEOUT_SECONDS: '2.5', RTMP_MAX_CONNECTIONS_PER_ADDRESS: '0', RTMP_MAX_METADATA_BYTES: '4096' });
  assert.equal(c.rtmpLimits.handshakeTimeoutMs, 2500);
  assert.equal(c.rtmpLimits.maxConnectionsPerAddress, 0);
  assert.equal(c.rtmpLimits.maxMetadataBytes, 4096);
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ RTMP_MAX_CONNECTIONS: '10', RTMP_RESERVED_PUBLISHER_CONNECTIONS: '10' }, /RTMP_RESERVED_PUBLISHER_CONNECTIONS=10: must be less than RTMP_MAX_CONNECTIONS=10/],
    [{ RTMP_MAX_BUFFER_BYTES_PER_CONNECTION: '1000' }, /^invalid RTMP_MAX_BUFFER_BYTES_PER_CONNECTION/],
    [{ RTMP_MAX_MESSAGES_PER_SECOND: '-5' }, /^invalid RTMP_MAX_MESSAGES_PER_SECOND/],
    [{ RTMP_IDLE_TIMEOUT_SECONDS: 'soon' }, /^invalid RTMP_IDLE_TIMEOUT_SECONDS/],
  ];
  for (const [env, re] of cases) assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && re.test(e.message));
});

test('a port already in use is one clear error naming the port and its variable', async () => {
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    await assert.rejects(listen(net.createServer(), port, '127.0.0.1', 'RTMP_PORT'), (e: unknown) => e instanceof StartupError && e.message === `port ${port} (RTMP_PORT) is already in use on 127.0.0.1`);
  } finally {
    taken.close();
  }
});

test('ingest, drain and health limits: defaults and validation', () => {
  const d = loadConfig({});
  assert.equal(d.ingestMaxSessions, 16);
  assert.equal(d.ingestMaxSocketsPerAddress, 8);
  assert.equal(d.ingestMaxPendingSockets, 64);
  assert.equal(d.ingestMediaTimeoutMs, 5000);
  assert.equal(d.shutdownTimeoutMs, 10_000);
  assert.equal(d.healthMaxEventLoopDelayMs, 1000);
  const c = loadConfig({ INGEST_MAX_SESSIONS: '3', INGEST_MEDIA_TIMEOUT_SECONDS: '1.5', SHUTDOWN_TIMEOUT_SECONDS: '0.5' });
  assert.equal(c.ingestMaxSessions, 3);
  assert.equal(c.ingestMediaTimeoutMs, 1500);
  assert.equal(c.shutdownTimeoutMs, 500);
  for (const [name, value] of [['INGEST_MAX_SESSIONS', '0'], ['INGEST_MAX_SOCKETS_PER_ADDRESS', '1.5'], ['INGEST_MAX_PENDING_SOCKETS', 'x'], ['INGEST_MEDIA_TIMEOUT_SECONDS', '0'], ['SHUTDOWN_TIMEOUT_SECONDS', '-1'], ['HEALTH_MAX_EVENT_LOOP_DELAY_MS', '0']]) {
    assert.throws(() => loadConfig({ [name]: value }), (err: Error) => err instanceof ConfigError && err.message.startsWith(`invalid ${name}=`), name);
  }
});

test('TLS settings: off by default; TLS_CERT and TLS_KEY go together; the redirect and RTMPS ports need them', () => {
  const d = loadConfig({});
  assert.equal(d.tls, null);
  assert.equal(d.httpRedirectPort, null);
  assert.equal(d.rtmpsPort, null);
  const c = loadConfig({ TLS_CERT: 'c.pem', TLS_KEY: '/k.pem', HTTP_REDIRECT_PORT: '80', RTMPS_PORT: '1936' });
  assert.deepEqual(c.tls, { certFile: path.resolve('c.pem'), keyFile: '/k.pem' });
  assert.equal(c.httpRedirectPort, 80);
  assert.equal(c.rtmpsPort, 1936);
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ TLS_CERT: 'c.pem' }, /^invalid TLS_KEY: not set; TLS_CERT and TLS_KEY go together/],
    [{ TLS_KEY: 'k.pem' }, /^invalid TLS_CERT: not set; TLS_CERT and TLS_KEY go together/],
    [{ HTTP_REDIRECT_PORT: '80' }, /^invalid HTTP_REDIRECT_PORT=80: needs TLS_CERT and TLS_KEY/],
    [{ RTMPS_PORT: '1936' }, /^invalid RTMPS_PORT=1936: needs TLS_CERT and TLS_KEY/],
    [{ TLS_CERT: 'c', TLS_KEY: 'k', RTMPS_PORT: '70000' }, /^invalid RTMPS_PORT=/],
  ];
  for (const [env, re] of cases) assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && re.test(e.message));
});
