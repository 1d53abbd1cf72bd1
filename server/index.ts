import { startServer } from './app';
import { ConfigError, loadConfig } from './config';
import { createLogger } from './log';
import { StartupError } from './net';

/** The one process: HTTP (pages, API, /hls), WebSocket ingest and RTMP. */
async function main(): Promise<void> {
  const dev = process.argv.includes('--dev');
  if (dev) (process.env as Record<string, string>).NODE_ENV = 'development';
  else (process.env as Record<string, string>).NODE_ENV ??= 'production';

  let config;
  try {
    config = loadConfig(process.env, { dev });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`config error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, dev || process.stdout.isTTY === true);

  let running: Awaited<ReturnType<typeof startServer>>;
  try {
    // --api-only: everything but the pages (for tests and benchmarks that need no build).
    running = await startServer({ config, logger, withNext: !process.argv.includes('--api-only') });
  } catch (err) {
    if (err instanceof StartupError) {
      process.stderr.write(`startup error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: shutting down`);
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
