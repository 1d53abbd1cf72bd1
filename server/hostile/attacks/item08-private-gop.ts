/**
 * Item 8: a player that plays on message stream ids other than 1 (2..8), again and again (closeStream, play),
 * never reading, on a stream whose GOP is large (the attacker publishes it: a real keyframe then 512 KiB
 * frames, ~8 MiB in the cache). Each play must not cost a private copy of the GOP.
 */
import { readFile } from 'node:fs/promises';
import { readFlv } from '../../testing/flv-file';
import type { RtmpClient } from '../../testing/rtmp-client';
import { testFlv } from '../../testing/media';
import type { Attack } from '../suite';
import { attackerStream, commandBytes, destroyAll, over, pick, rtmpOpen, rtmpPublisher, sleep } from './tools';

export const privateGop: Attack = {
  name: 'item 8: plays on message stream ids 2..8 of a stream with an 8 MiB GOP, never reading',
  async run(ctx) {
    const plays = pick(ctx, 56, 300);
    const deadline = Date.now() + pick(ctx, 6, 40) * 1000;
    const clients: RtmpClient[] = [];
    const notes: string[] = [];
    try {
      const tags = readFlv(await readFile(await testFlv()));
      const config = tags.find((t) => t.type === 9 && t.data[1] === 0)!;
      const key = tags.find((t) => t.type === 9 && t.data[0] >> 4 === 1 && t.data[1] === 1)!;
      const s = await attackerStream(ctx);
      const pub = await rtmpPublisher(ctx, s.key);
      clients.push(pub);
      pub.video(0, config.data);
      pub.video(0, key.data);
      const big = Buffer.alloc(512 * 1024 + 5, 0x55);
      big.set([0x27, 0x01, 0, 0, 0]);
      for (let i = 1; i <= 16; i++) pub.video(i * 40, big);
      await sleep(500);

      const c = await rtmpOpen(ctx, s.id, 1);
      clients.push(c);
      await c.connect();
      const ids: number[] = [];
      for (let i = 0; i < 8; i++) ids.push(await c.createStream());
      c.pause();
      let n = 0;
      for (let round = 0; n < plays && !over(ctx, deadline) && !c.socket.destroyed; round++) {
        for (const id of ids.filter((x) => x !== 1)) {
          if (round > 0) c.write(commandBytes('closeStream', 0, null, [], c.chunkSize, id));
          c.write(commandBytes('play', 0, null, [s.id, -1000], c.chunkSize, id));
          if (++n >= plays) break;
        }
        await sleep(100);
      }
      notes.push(`${n} plays on stream ids ${ids.filter((x) => x !== 1).join(',')} of an ~8 MiB GOP; connection ${c.socket.destroyed ? 'closed by the server' : 'still open'}`);
      while (!over(ctx, Math.min(deadline, Date.now() + 1500))) await sleep(250);
    } finally {
      destroyAll(clients);
    }
    return { notes, problems: [] };
  },
};
