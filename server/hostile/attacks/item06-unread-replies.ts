/**
 * Item 6: a client that never reads but sends many small unknown commands (each gets an `_error` reply),
 * so the replies pile up in the server unless it stops reading while its writes wait.
 */
import type { Attack } from '../suite';
import { commandBytes, pick, rtmpOpen, writeBounded } from './tools';

export const unreadReplies: Attack = {
  name: 'item 6: many small unknown commands from a client that never reads',
  async run(ctx) {
    const maxBytes = pick(ctx, 24, 120) * 1024 * 1024;
    const seconds = pick(ctx, 5, 30);
    const c = await rtmpOpen(ctx);
    const notes: string[] = [];
    try {
      await c.connect();
      c.pause();
      // 256 unknown calls per block (the same transaction id: each still gets its reply).
      const one = commandBytes('x', 10, null, [], c.chunkSize);
      const block = Buffer.concat(Array.from({ length: 256 }, () => one));
      const t0 = Date.now();
      const sent = await writeBounded(ctx, c.socket, () => block, maxBytes, Date.now() + seconds * 1000);
      notes.push(`${(sent / 1048576).toFixed(1)} MiB of unknown commands (${Math.round(sent / one.length)} calls) sent in ${Date.now() - t0} ms without reading; connection ${c.socket.destroyed ? 'closed by the server' : 'still open'}`);
    } finally {
      c.socket.destroy();
    }
    return { notes, problems: [] };
  },
};
