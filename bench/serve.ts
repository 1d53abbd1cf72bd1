/**
 * Our server, alone in its own process, for the benchmarks: the real server without the Next
 * pages, configured from the environment like `npm run serve` (PORT and RTMP_PORT default to 0,
 * HOST to 127.0.0.1, DATA_DIR to a fresh temp dir, LOG_LEVEL to warn).
 *
 * Prints one JSON line `{"event":"ready","pid":…,"httpPort":…,"rtmpPort":…}` on stdout when it
 * listens. On SIGUSR2 it prints `{"event":"stats","streams":[…]}` (the hub's view, including frames
 * dropped for slow subscribers). SIGTERM/SIGINT close it.
 *
 *   node --import tsx bench/serve.ts
 *
 * Diagnostic switch: BENCH_TCP_NODELAY=0 turns every setNoDelay(true) of this process into a no-op
 * (the server asks for TCP_NODELAY on RTMP sockets), to measure what Nagle's algorithm would save.
 * BENCH_RTMP_FLUSH_MS=<ms> sets the RTMP players' write batching window (server/relay/fanout.ts;
 * 0 = one write per message, as before batching), BENCH_RTMP_VIDEO_FLUSH_MS=<ms> the one of video
 * frames (0 = at the end of the event-loop turn).
 */
import { fanoutDefaults } from '../server/relay/fanout';
import { serveForBench } from './server-lifecycle';

if (process.env.BENCH_TCP_NODELAY === '0') {
  type TcpBinding = { TCP: { prototype: { setNoDelay(on: boolean): number } } };
  const { TCP } = (process as unknown as { binding(name: string): TcpBinding }).binding('tcp_wrap');
  TCP.prototype.setNoDelay = () => 0;
  console.error('bench/serve.ts: BENCH_TCP_NODELAY=0, TCP_NODELAY disabled for this process');
}

if (process.env.BENCH_RTMP_FLUSH_MS !== undefined) {
  fanoutDefaults.flushMs = Number(process.env.BENCH_RTMP_FLUSH_MS);
  console.error(`bench/serve.ts: BENCH_RTMP_FLUSH_MS=${fanoutDefaults.flushMs}`);
}
if (process.env.BENCH_RTMP_VIDEO_FLUSH_MS !== undefined) {
  fanoutDefaults.videoFlushMs = Number(process.env.BENCH_RTMP_VIDEO_FLUSH_MS);
  console.error(`bench/serve.ts: BENCH_RTMP_VIDEO_FLUSH_MS=${fanoutDefaults.videoFlushMs}`);
}

const { running } = await serveForBench('golive-bench-');

process.on('SIGUSR2', () => {
  console.log(JSON.stringify({ event: 'stats', streams: running.hub.activeStats(), rtmpConnections: running.rtmp.connectionCount }));
});
