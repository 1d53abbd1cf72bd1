/**
 * Start and stop of the benchmarks' server processes (bench/serve.ts, bench/latency/serve.ts,
 * bench/nms-serve.ts): our server from the environment with its `ready` line, and the close on
 * SIGTERM/SIGINT, bounded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startServer, type RunningServer } from '../server/app';
import { loadConfig } from '../server/config';
import { createLogger } from '../server/log';

/**
 * On SIGTERM or SIGINT (once): `close` (its failure ignored), then exit 0; exit 1 if that takes
 * longer than `forceMs`. Returns the same stop, for other reasons to go (e.g. stdin closed).
 */
export function stopOnSignals(close: () => Promise<unknown>, forceMs: number): () => Promise<void> {
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), forceMs).unref();
    await close().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  return stop;
}

/**
 * Our server without the Next pages, configured from the environment like `npm run serve` (PORT and
 * RTMP_PORT default to 0, HOST to 127.0.0.1, DATA_DIR to a fresh temp dir `<tmpPrefix>XXXXXX`,
 * removed at the end, LOG_LEVEL to warn, RECORD to off). Once it listens, prints one JSON line on stdout:
 * `{"event":"ready","pid":…,"httpPort":…,"rtmpPort":…}` and then the fields of `readyExtra`.
 * SIGTERM/SIGINT close it (see stopOnSignals, 5 s bound).
 */
export async function serveForBench(
  tmpPrefix: string,
  readyExtra: (running: RunningServer) => Record<string, unknown> = () => ({}),
): Promise<{ running: RunningServer; stop: () => Promise<void> }> {
  const ownDataDir = process.env.DATA_DIR ? null : await mkdtemp(path.join(os.tmpdir(), tmpPrefix));
  const env = { ...process.env };
  env.PORT ??= '0';
  env.RTMP_PORT ??= '0';
  env.HOST ??= '127.0.0.1';
  env.LOG_LEVEL ??= 'warn';
  // Each benchmark measures its own area; recording (on by default in the product) is left out unless RECORD is set.
  env.RECORD ??= 'off';
  if (ownDataDir) env.DATA_DIR = ownDataDir;

  const config = loadConfig(env);
  const logger = createLogger(config.logLevel, false);
  const running = await startServer({ config, logger, withNext: false });
  console.log(JSON.stringify({ event: 'ready', pid: process.pid, httpPort: running.httpPort, rtmpPort: running.rtmpPort, ...readyExtra(running) }));

  const stop = stopOnSignals(async () => {
    await running.close().catch(() => undefined);
    if (ownDataDir) await rm(ownDataDir, { recursive: true, force: true }).catch(() => undefined);
  }, 5000);
  return { running, stop };
}
