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

  let running: Awaited<ReturnType<typeof startServer>> | null = null;
  const context = () =>
    running
      ? { uptimeSeconds: Math.round(process.uptime()), streams: running.hub.activeStats().length, ingest: running.ingest.counts(), snapshotFfmpeg: running.snapshots.active }
      : { uptimeSeconds: Math.round(process.uptime()), starting: true };
  // Nothing a client sends should get here (each input path catches its own errors); if anything does, it is logged
  // with what the server was doing. An exception leaves the process in an unknown state: log, kill our ffmpegs, exit 1
  // (a supervisor restarts it; pages reconnect). A stray rejected promise is logged and the server keeps running.
  process.on('uncaughtException', (err, origin) => {
    logger.fatal({ err, origin, ...context() }, 'uncaught exception: exiting');
    running?.cut();
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason, ...context() }, 'unhandled promise rejection (the server keeps running)');
  });
  // However the process ends, no ingest or snapshot ffmpeg is left behind by us (their stdin closing would end them
  // too, but not at once).
  process.on('exit', () => running?.cut());

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ timeoutSeconds: config.shutdownTimeoutMs / 1000 }, `${signal}: draining, then exiting`);
    if (!running) process.exit(0);
    const server = running;
    const force = setTimeout(() => {
      logger.warn({ timeoutSeconds: config.shutdownTimeoutMs / 1000, ...context() }, 'drain not finished within SHUTDOWN_TIMEOUT_SECONDS: cutting what is left');
      server.cut();
      process.exit(0);
    }, config.shutdownTimeoutMs);
    force.unref();
    server.close().then(
      () => {
        logger.info('drained');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'drain failed: cutting what is left');
        server.cut();
        process.exit(1);
      },
    );
  };
  // A signal while the server is still starting: nothing to drain yet, exit at once.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP: read TLS_CERT/TLS_KEY again (a renewal); a bad pair keeps the old one (logged). Never ends the process.
  process.on('SIGHUP', () => {
    if (running?.tls) running.tls.reload('SIGHUP');
    else logger.info('SIGHUP: no TLS certificate to reload (TLS_CERT/TLS_KEY not set)');
  });
  // Started by scripts/start.mjs (`npm start`) with an IPC channel: if that launcher dies, drain as on SIGTERM.
  if (process.connected) process.on('disconnect', () => stop('launcher gone'));

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
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
