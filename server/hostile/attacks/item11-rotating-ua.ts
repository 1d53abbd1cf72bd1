/**
 * Item 11: playlist requests of the victims' stream (HEAD, pipelined on a few keep-alive connections), each
 * with a User-Agent never seen before: the viewer map must not grow without bound or be scanned per request.
 */
import type net from 'node:net';
import type { Attack } from '../suite';
import { destroyAll, httpRequest, over, pick, rawConnect, sleep } from './tools';

export const rotatingUserAgent: Attack = {
  name: 'item 11: playlist requests with a new User-Agent each (past the 50k viewer-map mark)',
  async run(ctx) {
    const total = pick(ctx, 60000, 300000);
    const conns = 4;
    const batch = 500;
    const deadline = Date.now() + pick(ctx, 15, 90) * 1000;
    const socks: net.Socket[] = [];
    let sent = 0;
    let answered = 0;
    try {
      for (let k = 0; k < conns; k++) {
        const s = await rawConnect(ctx.server.httpPort, ctx.addr(k));
        s.on('data', (d: Buffer) => {
          // Count status lines without keeping the bytes.
          const str = d.toString('latin1');
          for (let i = str.indexOf('HTTP/1.1 '); i >= 0; i = str.indexOf('HTTP/1.1 ', i + 9)) answered++;
        });
        socks.push(s);
      }
      const target = `/hls/${ctx.victim.id}/index.m3u8`;
      let n = 0;
      while (n < total && !over(ctx, deadline)) {
        for (const s of socks) {
          if (s.destroyed) continue;
          let out = '';
          for (let i = 0; i < batch; i++) out += httpRequest('HEAD', target, { 'User-Agent': `Mozilla/5.0 (bot ${n++}; ${ctx.victim.id})` });
          s.write(out);
        }
        sent = n;
        // Keep at most a few batches in flight per connection.
        while (sent - answered > conns * batch * 2 && !over(ctx, deadline) && socks.some((s) => !s.destroyed)) await sleep(20);
        if (socks.every((s) => s.destroyed)) break;
      }
    } finally {
      destroyAll(socks);
    }
    return { notes: [`${sent} playlist requests with distinct User-Agents sent, ${answered} answered`], problems: [] };
  },
};
