/**
 * Slowloris on HTTP and on the WebSocket endpoint: many connections from one address that send a request
 * head (or, for WebSockets, frames) a byte at a time, or complete an upgrade and then say nothing. The
 * victims must not notice; in the long version the server must have closed every one within 40 s.
 */
import type net from 'node:net';
import type { Attack, AttackContext } from '../suite';
import { destroyAll, over, pick, rawConnect, sleep } from './tools';

const CLOSE_WITHIN_MS = 40000;

async function hold(ctx: AttackContext, socks: net.Socket[], heads: string[], dribble: (s: net.Socket, i: number) => void, seconds: number): Promise<{ notes: string[]; problems: string[] }> {
  const opened = new Map<net.Socket, number>();
  const closed = new Map<net.Socket, number>();
  let refused = 0;
  for (let i = 0; i < heads.length && ctx.server.alive(); i++) {
    try {
      const s = await rawConnect(ctx.server.httpPort, ctx.addr(0), 3000);
      s.on('data', () => undefined);
      s.on('close', () => closed.set(s, Date.now()));
      opened.set(s, Date.now());
      s.write(heads[i]);
      socks.push(s);
    } catch {
      refused++;
    }
  }
  const timer = setInterval(() => socks.forEach((s, i) => !s.destroyed && dribble(s, i)), 1000);
  const deadline = Date.now() + seconds * 1000;
  try {
    while (!over(ctx, deadline)) {
      await sleep(250);
      if (ctx.long && socks.every((s) => s.destroyed)) break;
    }
  } finally {
    clearInterval(timer);
  }
  const open = socks.filter((s) => !s.destroyed).length;
  const problems: string[] = [];
  if (ctx.long) {
    const late = [...opened].filter(([s, t]) => (closed.get(s) ?? Date.now()) - t > CLOSE_WITHIN_MS).length;
    if (late) problems.push(`${late} of ${socks.length} slow connections were still open after ${CLOSE_WITHIN_MS / 1000} s`);
  }
  return { notes: [`${heads.length} slow connections tried, ${refused} refused; ${open} still open after ${seconds} s`], problems };
}

export const httpSlowloris: Attack = {
  name: 'slowloris on HTTP: request heads a byte a second (HLS and API paths)',
  async run(ctx) {
    const n = pick(ctx, 200, 1000);
    const socks: net.Socket[] = [];
    try {
      const heads = Array.from({ length: n }, (_, i) => (i % 2 ? `GET /hls/${ctx.victim.id}/index.m3u8 HTTP/1.1\r\nHost: 127.0.0.1\r\n` : 'GET /api/streams HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
      return await hold(ctx, socks, heads, (s, i) => s.write(i % 3 ? 'X' : 'X-a: b\r\n'.slice(0, 1 + (i % 7))), pick(ctx, 3, 60));
    } finally {
      destroyAll(socks);
    }
  },
};

const UPGRADE = 'GET /ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

export const wsSlowloris: Attack = {
  name: 'slowloris on the /ingest WebSocket: dribbled upgrades, silent sockets, frames a byte at a time',
  async run(ctx) {
    const n = pick(ctx, 150, 600);
    const socks: net.Socket[] = [];
    try {
      // A third dribble the upgrade head; a third upgrade and then say nothing; a third upgrade and then
      // dribble a masked text frame header that announces 1 MiB.
      const heads = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? UPGRADE.slice(0, 40) : `${UPGRADE}\r\n`));
      const frame = Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4]);
      const pos = new Map<number, number>();
      return await hold(ctx, socks, heads, (s, i) => {
        if (i % 3 === 0) {
          const p = pos.get(i) ?? 40;
          if (p < UPGRADE.length) s.write(UPGRADE[p]);
          pos.set(i, p + 1);
        } else if (i % 3 === 2) {
          const p = pos.get(i) ?? 0;
          s.write(frame.subarray(p % frame.length, (p % frame.length) + 1));
          pos.set(i, p + 1);
        }
      }, pick(ctx, 3, 60));
    } finally {
      destroyAll(socks);
    }
  },
};
