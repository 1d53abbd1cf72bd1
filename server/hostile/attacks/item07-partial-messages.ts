/**
 * Item 7: before `connect`, a client opens a partial message on every chunk stream it may use, each
 * announcing 8 MiB - 1 bytes, and fills them part way, never finishing one: the server keeps every
 * assembly buffer. Several connections from one address do it at once.
 */
import type { RtmpClient } from '../../testing/rtmp-client';
import type { Attack } from '../suite';
import { destroyAll, over, pick, rtmpOpen, writeBounded } from './tools';

const CSIDS = Array.from({ length: 61 }, (_, i) => i + 3); // one-byte basic headers: 3..63

export const partialMessages: Attack = {
  name: 'item 7: partial 8 MiB messages on 61 chunk streams before connect, several connections',
  async run(ctx) {
    const conns = pick(ctx, 4, 10);
    const perStream = pick(ctx, 0.8, 1.6) * 1024 * 1024;
    const deadline = Date.now() + pick(ctx, 8, 40) * 1000;
    const clients: RtmpClient[] = [];
    let sent = 0;
    let closedByServer = 0;
    try {
      for (let k = 0; k < conns && !over(ctx, deadline); k++) {
        let c: RtmpClient;
        try {
          c = await rtmpOpen(ctx, 'x', 0);
        } catch {
          continue;
        }
        clients.push(c);
        const cs = c.chunkSize;
        const chunk = Buffer.alloc(cs, 0x41);
        for (const csid of CSIDS) {
          if (c.socket.destroyed || over(ctx, deadline)) break;
          const header = Buffer.alloc(12);
          header[0] = csid; // fmt 0
          header.writeUIntBE(0, 1, 3);
          header.writeUIntBE(8 * 1024 * 1024 - 1, 4, 3);
          header[7] = 9;
          header.writeUInt32LE(1, 8);
          let first = true;
          sent += await writeBounded(ctx, c.socket, () => {
            const b = first ? Buffer.concat([header, chunk]) : Buffer.concat([Buffer.from([0xc0 | csid]), chunk]);
            first = false;
            return b;
          }, perStream, deadline);
        }
        if (c.socket.destroyed) closedByServer++;
      }
    } finally {
      destroyAll(clients);
    }
    return {
      notes: [`${clients.length} connections, ${(sent / 1048576).toFixed(0)} MiB of unfinished messages sent; ${closedByServer} connections closed by the server`],
      problems: [],
    };
  },
};
