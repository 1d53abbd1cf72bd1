/**
 * Item 10: one HTTP connection asks for an API page first (so Node's parser has it), then pipelines 20,000
 * blocking playlist reloads of the victims' stream (the segment after the live one) in one write, and never
 * reads. The stream's waiters must not be taken from real viewers (no 503 for them).
 */
import type net from 'node:net';
import type { Attack } from '../suite';
import { parsePlaylist } from '../victims';
import { destroyAll, httpRequest, over, pick, rawConnect, sleep } from './tools';

export const pipelinedReloads: Attack = {
  name: 'item 10: one connection pipelines 20,000 blocking LL-HLS reloads after a page request',
  async run(ctx) {
    const conns = pick(ctx, 1, 4);
    const perConn = pick(ctx, 20000, 30000);
    const rounds = pick(ctx, 2, 8);
    const deadline = Date.now() + pick(ctx, 6, 40) * 1000;
    const socks: net.Socket[] = [];
    let sent = 0;
    let refused = 0;
    try {
      for (let r = 0; r < rounds && !over(ctx, deadline); r++) {
        const res = await fetch(`${ctx.server.http}/hls/${ctx.victim.id}/index.m3u8`, { signal: AbortSignal.timeout(5000) });
        const p = parsePlaylist(await res.text());
        if (!p) throw new Error(`no playlist for the victims' stream (HTTP ${res.status})`);
        const target = `/hls/${ctx.victim.id}/index.m3u8?_HLS_msn=${p.next.msn + 1}&_HLS_part=0`;
        const one = httpRequest('GET', target);
        const burst = Buffer.from(httpRequest('GET', '/api/streams') + one.repeat(perConn));
        for (let k = 0; k < conns; k++) {
          try {
            const s = await rawConnect(ctx.server.httpPort, ctx.addr(0));
            socks.push(s);
            s.pause(); // never read
            s.write(burst);
            sent += burst.length;
          } catch {
            refused++;
          }
        }
        await sleep(2500);
      }
    } finally {
      destroyAll(socks);
    }
    return {
      notes: [`${socks.length} connections, ${socks.length * perConn} pipelined blocking reloads (${(sent / 1048576).toFixed(1)} MiB), ${refused} refused at connect`],
      problems: [],
    };
  },
};
