/**
 * Item 5 (and RTMP slowloris): one client address holds RTMP connections open for free: handshakes that
 * dribble a byte a second, connections that `connect` and then do nothing, players of streams that are not
 * live. The suite's server has RTMP_MAX_CONNECTIONS=64, so today the attacker holds every slot. A new
 * legitimate publisher must still get on (slots are kept for publishers), and in the long version the
 * server must close the dribblers and the idle connections within 40 s (absolute deadlines).
 */
import type net from 'node:net';
import { connectPublisher, type RtmpClient } from '../../testing/rtmp-client';
import type { Attack } from '../suite';
import { attackerStream, commandBytes, destroyAll, over, pick, rawConnect, rtmpOpen, sleep } from './tools';

export const rtmpSlots: Attack = {
  name: 'item 5 + RTMP slowloris: dribbled handshakes and idle connections from one address; a publisher still gets on',
  async run(ctx) {
    const dribblers = pick(ctx, 80, 200);
    const idle = pick(ctx, 10, 40);
    const seconds = pick(ctx, 3, 45);
    const notes: string[] = [];
    const problems: string[] = [];
    const socks: net.Socket[] = [];
    const clients: RtmpClient[] = [];
    const openedAt = new Map<net.Socket, number>();
    const closedAt = new Map<net.Socket, number>();
    let refused = 0;
    try {
      // Idle ones first (they need a free slot to get through the handshake).
      for (let i = 0; i < idle; i++) {
        try {
          const c = await rtmpOpen(ctx, 'x', 0);
          c.write(commandBytes('connect', 1, { app: 'live', tcUrl: `rtmp://127.0.0.1:${ctx.server.rtmpPort}/live` }, [], c.chunkSize));
          if (i % 2 === 1) {
            c.write(commandBytes('createStream', 2, null, [], c.chunkSize));
            c.write(commandBytes('play', 0, null, [`nosuchstream${i}`], c.chunkSize, 1));
          }
          clients.push(c);
          openedAt.set(c.socket, Date.now());
          c.socket.on('close', () => closedAt.set(c.socket, Date.now()));
        } catch {
          refused++;
        }
      }
      for (let i = 0; i < dribblers; i++) {
        try {
          const s = await rawConnect(ctx.server.rtmpPort, ctx.addr(0), 3000);
          s.write(Buffer.from([3, 0]));
          socks.push(s);
          openedAt.set(s, Date.now());
          s.on('close', () => closedAt.set(s, Date.now()));
        } catch {
          refused++;
        }
      }
      const dribble = setInterval(() => {
        for (const s of socks) if (!s.destroyed) s.write(Buffer.from([0]));
      }, 1000);
      try {
        // A legitimate publisher from the victims' address, on a new stream.
        await sleep(500);
        const s = await attackerStream(ctx, 'late publisher');
        const t0 = Date.now();
        try {
          const pub = await connectPublisher(`${ctx.server.rtmpUrl}/${s.key}`, { timeoutMs: 10000 });
          notes.push(`a new publisher got NetStream.Publish.Start in ${Date.now() - t0} ms`);
          pub.socket.destroy();
        } catch (err) {
          problems.push(`a new publisher could not publish while the attacker held its connections: ${(err as Error).message}`);
        }
        const deadline = Date.now() + seconds * 1000;
        while (!over(ctx, deadline)) await sleep(250);
      } finally {
        clearInterval(dribble);
      }
      const alive = socks.filter((s) => !s.destroyed).length + clients.filter((c) => !c.socket.destroyed).length;
      notes.push(`${dribblers} dribbling handshakes + ${idle} idle connections tried, ${refused} refused at once; after ${seconds} s ${alive} still open`);
      if (ctx.long) {
        const late = [...openedAt].filter(([s, t]) => (closedAt.get(s) ?? Date.now()) - t > 40000).length;
        if (late) problems.push(`${late} dribbling or idle RTMP connections were still open after 40 s`);
      }
    } finally {
      destroyAll(socks);
      destroyAll(clients);
    }
    return { notes, problems };
  },
};
