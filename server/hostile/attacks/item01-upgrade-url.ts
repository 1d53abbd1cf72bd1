/**
 * Item 1: HTTP upgrades whose target no URL parser accepts (`//[`, `http://[`). Each must be answered or
 * closed within a few seconds (not left hanging), and the server must stay up.
 */
import type { Attack } from '../suite';
import { closedWithin, collect, pick, rawConnect, statuses } from './tools';

const TARGETS = ['//[', 'http://[', '//[::1', '/ingest?%', '//%5B'];

export const upgradeBadUrl: Attack = {
  name: 'item 1: WebSocket upgrade to an unparseable target (//[)',
  async run(ctx) {
    const n = pick(ctx, 20, 1000);
    let answered = 0;
    let hanging = 0;
    let refused = 0;
    const codes = new Map<number, number>();
    for (let i = 0; i < n && ctx.server.alive() && !ctx.signal?.aborted; i += 10) {
      await Promise.all(Array.from({ length: Math.min(10, n - i) }, async (_, j) => {
        const target = TARGETS[(i + j) % TARGETS.length];
        let s;
        try {
          s = await rawConnect(ctx.server.httpPort, ctx.addr(0));
        } catch {
          refused++;
          return;
        }
        const got = collect(s, 5000, 4096);
        s.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
        const r = await got;
        for (const c of statuses(r.data)) codes.set(c, (codes.get(c) ?? 0) + 1);
        if (r.data.length || r.closed) answered++;
        else hanging++;
        s.destroy();
        await closedWithin(s, 100);
      }));
    }
    const problems: string[] = [];
    if (hanging) problems.push(`${hanging} of ${n} upgrade sockets got no answer and were not closed within 5 s`);
    return {
      notes: [`${n} upgrades: ${answered} answered or closed, ${hanging} hanging, ${refused} refused at connect; statuses ${JSON.stringify(Object.fromEntries(codes))}`],
      problems,
    };
  },
};
