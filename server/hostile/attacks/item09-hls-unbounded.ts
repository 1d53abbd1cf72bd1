/**
 * Item 9: two publishers feed the LL-HLS packager what grows one segment or one part without bound:
 * (a) a keyframe and then only inter frames (an intra-refresh encoder does this legitimately), (b) video
 * frames that all carry the same timestamp. Each is watched over HLS (so it is packaged); frames are large
 * (256 KiB) and sent as fast as the server takes them.
 */
import { readFile } from 'node:fs/promises';
import { readFlv } from '../../testing/flv-file';
import type { RtmpPublisher } from '../../testing/rtmp-client';
import { testFlv } from '../../testing/media';
import type { Attack, AttackContext } from '../suite';
import { attackerStream, destroyAll, over, pick, rtmpPublisher, sleep } from './tools';

async function feed(ctx: AttackContext, pub: RtmpPublisher, sameTimestamp: boolean, maxBytes: number, deadline: number): Promise<number> {
  const tags = readFlv(await readFile(await testFlv()));
  const vcfg = tags.find((t) => t.type === 9 && t.data[1] === 0)!;
  const acfg = tags.find((t) => t.type === 8 && t.data[1] === 0)!;
  const key = tags.find((t) => t.type === 9 && t.data[0] >> 4 === 1 && t.data[1] === 1)!;
  const aac = tags.find((t) => t.type === 8 && t.data[1] === 1)!;
  pub.video(0, vcfg.data);
  pub.audio(0, acfg.data);
  pub.video(0, key.data);
  const frame = Buffer.alloc(256 * 1024 + 5, 0x33);
  frame.set([0x27, 0x01, 0, 0, 0]);
  let sent = 0;
  let ts = 0;
  while (sent < maxBytes && !over(ctx, deadline) && !pub.socket.destroyed) {
    ts += 40;
    const t = sameTimestamp ? 40 : ts;
    pub.video(t, frame);
    if (!sameTimestamp) for (let a = ts - 40; a < ts; a += 23) pub.audio(a, aac.data);
    sent += frame.length;
    if (pub.socket.writableLength > 4 * 1024 * 1024) {
      await new Promise<void>((r) => {
        const t2 = setTimeout(r, Math.max(0, deadline - Date.now()));
        pub.socket.once('drain', () => {
          clearTimeout(t2);
          r();
        });
      });
    } else await new Promise((r) => setImmediate(r));
  }
  return sent;
}

export const hlsUnbounded: Attack = {
  name: 'item 9: LL-HLS segment with no further keyframe, and a part of frames with one timestamp',
  async run(ctx) {
    const maxBytes = pick(ctx, 80, 400) * 1024 * 1024;
    const deadline = Date.now() + pick(ctx, 8, 40) * 1000;
    const pubs: RtmpPublisher[] = [];
    const notes: string[] = [];
    try {
      const results = await Promise.all([false, true].map(async (same) => {
        const s = await attackerStream(ctx);
        const pub = await rtmpPublisher(ctx, s.key, same ? 1 : 0);
        pubs.push(pub);
        // Start its packager: ask for its playlist (from the attacker's address too, via a plain fetch: same host).
        const watch = (async () => {
          while (!over(ctx, deadline) && !pub.socket.destroyed) {
            await fetch(`${ctx.server.http}/hls/${s.id}/index.m3u8`, { signal: AbortSignal.timeout(3000) }).then((r) => r.arrayBuffer()).catch(() => undefined);
            await sleep(1000);
          }
        })();
        await sleep(300);
        const sent = await feed(ctx, pub, same, maxBytes, deadline);
        const closed = pub.socket.destroyed;
        await sleep(1000);
        return { same, sent, closed, watch };
      }));
      for (const r of results) notes.push(`${r.same ? 'one timestamp' : 'no keyframe'}: ${(r.sent / 1048576).toFixed(0)} MiB of video sent; publisher ${r.closed ? 'closed by the server' : 'still connected'}`);
      destroyAll(pubs);
      await Promise.all(results.map((r) => r.watch));
    } finally {
      destroyAll(pubs);
    }
    return { notes, problems: [] };
  },
};
