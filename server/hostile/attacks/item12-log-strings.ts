/**
 * Item 12: peer strings in the logs: `connect` with a 6 MiB `app` (an unknown application, which the server
 * logs), a 256 KiB flashVer and tcUrl, from a few connections. What the server logs must stay small.
 */
import type { RtmpClient } from '../../testing/rtmp-client';
import type { Attack } from '../suite';
import { commandBytes, destroyAll, pick, rtmpOpen, sleep } from './tools';

/** Most log bytes the whole attack may cause. */
const MAX_LOG_BYTES = 1024 * 1024;

export const logStrings: Attack = {
  name: 'item 12: 6 MiB app name (and 256 KiB flashVer, tcUrl) in connect, into the log',
  async run(ctx) {
    const conns = pick(ctx, 4, 40);
    const before = ctx.server.logBytes();
    const clients: RtmpClient[] = [];
    let sent = 0;
    try {
      for (let i = 0; i < conns && ctx.server.alive(); i++) {
        let c: RtmpClient;
        try {
          c = await rtmpOpen(ctx, 'x', i % 3);
        } catch {
          continue;
        }
        clients.push(c);
        const big = commandBytes('connect', 1, { app: 'A'.repeat(6 * 1024 * 1024), flashVer: 'F'.repeat(256 * 1024), tcUrl: `rtmp://${'h'.repeat(256 * 1024)}/x` }, [], c.chunkSize);
        c.write(big);
        sent += big.length;
        await sleep(200);
      }
      await sleep(1000);
    } finally {
      destroyAll(clients);
    }
    // The log reaches us through a pipe: wait until it has been quiet for a second (at most 10 s).
    for (let last = -1, t = Date.now(); ctx.server.logBytes() !== last && Date.now() - t < 10000; ) {
      last = ctx.server.logBytes();
      await sleep(1000);
    }
    const logged = ctx.server.logBytes() - before;
    const problems = logged > MAX_LOG_BYTES ? [`the server wrote ${(logged / 1048576).toFixed(1)} MiB of log for ${conns} connects (bound ${MAX_LOG_BYTES / 1048576} MiB)`] : [];
    return { notes: [`${conns} connects with ${(sent / 1048576).toFixed(0)} MiB of strings; the server logged ${(logged / 1024).toFixed(0)} KiB meanwhile`], problems };
  },
};
