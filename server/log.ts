import pino, { type Logger } from 'pino';

export type { Logger };

/** One line per event: JSON in production, colourised single lines in development. */
export function createLogger(level: string, pretty: boolean): Logger {
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { colorize: true, singleLine: true, ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, base: undefined });
}
