/**
 * Item 10: one HTTP connection asks for an API page first (so Node's parser has it), then pipelines 21,000
 * blocking playlist reloads of the victims' stream in one write (a late part of the segment two ahead of the
 * live one, as far as allowed: held until that segment is complete), and reads the answers. The stream's
 * waiters must not be taken from real viewers (no 503 or 404 for their reloads and hinted parts).
 */
import type net from 'node:net';
import type { Attack } from '../suite';
import { parsePlaylist } from '../victims';
import { destroyAll, httpRequest, over, pick, rawConnect, sleep } from './tools';

export const pipelinedReloads: Attack = {
  name: 'item 10: one connection pipelines 21,000 blocking LL-HLS reloads after a page request',
  async run(ctx) {
    const conns = pick(ctx, 1, 4);
    const perConn = pick(ctx, 21000, 30000);
    const rounds = pick(ctx, 2, 8);
    const deadline = Date.now() + pick(ctx, 6, 40) * 1000;
    const socks: net.Socket[] = [];
    let sent = 0;
    let refused = 0;
    const codes = new Map<string, number>();
    try {
      for (let r = 0; r < rounds && !over(ctx, deadline); r++) {
        const res = await fetch(`${ctx.server.http}/hls/${ctx.victim.id}/index.m3u8`, { signal: AbortSignal.timeout(5000) });
        const p = parsePlaylist(await res.text());
        if (!p) throw new Error(`no playlist for the victims' stream (HTTP ${res.status})`);
        const target = `/hls/${ctx.victim.id}/index.m3u8?_HLS_msn=${p.next.msn + 2}&_HLS_part=20`;
        const one = httpRequest('GET', target);
        const burst = Buffer.from(httpRequest('GET', '/api/streams') + one.repeat(perConn));
        for (let k = 0; k < conns; k++) {
          try {
            const s = await rawConnect(ctx.server.httpPort, ctx.addr(0));
            socks.push(s);
            s.on('data', (d: Buffer) => {
              const str = d.toString('latin1');
              for (let i = str.indexOf('HTTP/1.1 '); i >= 0; i = str.indexOf('HTTP/1.1 ', i + 9)) {
                const st = str.slice(i + 9, i + 12);
                codes.set(st, (codes.get(st) ?? 0) + 1);
              }
            });
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
      notes: [`${socks.length} connections, ${socks.length * perConn} pipelined blocking reloads (${(sent / 1048576).toFixed(1)} MiB), ${refused} refused at connect; answers ${JSON.stringify(Object.fromEntries(codes))}`],
      problems: [],
    };
  },
};
