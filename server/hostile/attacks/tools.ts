/** Small building blocks for attackers: raw sockets from another loopback address, bounded writes, RTMP bytes. */
import net from 'node:net';
import { encodeAmf0, type Amf0Value } from '../../rtmp/amf0';
import { encodeMessage } from '../../rtmp/chunk';
import { MessageType } from '../../rtmp/messages';
import { connectPlayer, connectPublisher, RtmpClient, type RtmpPlayer, type RtmpPublisher } from '../../testing/rtmp-client';
import type { AttackContext } from '../suite';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A short or long value. */
export function pick<T>(ctx: AttackContext, short: T, long: T): T {
  return ctx.long ? long : short;
}

/** True once the attack should end: its deadline passed, the caller aborted, or the server is gone. */
export function over(ctx: AttackContext, deadline: number): boolean {
  return Date.now() >= deadline || !!ctx.signal?.aborted || !ctx.server.alive();
}

/** A TCP connection to `port` from `localAddress`; every error is swallowed (attackers expect to be cut off). */
export function rawConnect(port: number, localAddress: string, timeoutMs = 5000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('connect timed out'));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
  });
}

/** Resolves with what a socket got back (up to `maxBytes`) once it closes or `timeoutMs` passes. */
export function collect(s: net.Socket, timeoutMs: number, maxBytes = 65536): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const t = setTimeout(() => finish(s.destroyed), timeoutMs);
    s.on('data', (d: Buffer) => {
      if (n < maxBytes) chunks.push(d);
      n += d.length;
    });
    s.on('close', () => finish(true));
    if (s.destroyed) finish(true);
  });
}

/** Whether the peer closed (or reset) the socket within `timeoutMs`. */
export function closedWithin(s: net.Socket, timeoutMs: number): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * Write `next()` chunks until `maxBytes` are written, the deadline passes or the socket closes; waits
 * for 'drain' (at most until the deadline) when the socket's buffer is full. Resolves with bytes written.
 */
export async function writeBounded(ctx: AttackContext, s: net.Socket, next: () => Buffer, maxBytes: number, deadline: number): Promise<number> {
  let written = 0;
  while (written < maxBytes && !s.destroyed && !over(ctx, deadline)) {
    const chunk = next();
    written += chunk.length;
    if (!s.write(chunk)) {
      const drained = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
        const done = () => {
          clearTimeout(t);
          s.off('drain', done);
          s.off('close', done);
          resolve(!s.destroyed);
        };
        s.once('drain', done);
        s.once('close', done);
      });
      if (!drained) break;
    } else if (written % (1 << 20) < chunk.length) {
      await new Promise((r) => setImmediate(r)); // let the test process's victims run
    }
  }
  return written;
}

export function destroyAll(sockets: Iterable<net.Socket | RtmpClient>): void {
  for (const s of sockets) (s instanceof RtmpClient ? s.socket : s).destroy();
}

/** An RTMP connection from the attacker's address, handshake done. */
export function rtmpOpen(ctx: AttackContext, name = 'x', n = 0): Promise<RtmpClient> {
  return RtmpClient.open(`${ctx.server.rtmpUrl}/${name}`, { localAddress: ctx.addr(n), timeoutMs: 10000 });
}

export function rtmpPublisher(ctx: AttackContext, key: string, n = 0): Promise<RtmpPublisher> {
  return connectPublisher(`${ctx.server.rtmpUrl}/${key}`, { localAddress: ctx.addr(n), timeoutMs: 10000 });
}

export function rtmpPlayer(ctx: AttackContext, id: string, n = 0, pause = false): Promise<RtmpPlayer> {
  return connectPlayer(`${ctx.server.rtmpUrl}/${id}`, { localAddress: ctx.addr(n), timeoutMs: 10000, pause });
}

/** One AMF0 command message (chunked at `chunkSize`). */
export function commandBytes(name: string, txn: number, obj: Amf0Value, args: Amf0Value[] = [], chunkSize = 4096, streamId = 0): Buffer {
  return encodeMessage({ csid: 3, type: MessageType.CommandAmf0, streamId, timestamp: 0, payload: encodeAmf0(name, txn, obj, ...args) }, chunkSize);
}

/** A new stream of the server's, for an attacker's own publishing. */
export async function attackerStream(ctx: AttackContext, title = 'attacker'): Promise<{ id: string; key: string }> {
  return ctx.server.createStream(title);
}

/** An HTTP/1.1 request head. */
export function httpRequest(method: string, target: string, headers: Record<string, string> = {}): string {
  const h = { Host: '127.0.0.1', ...headers };
  return `${method} ${target} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

/** Status codes of the HTTP responses in `data` (a keep-alive or pipelined stream of them). */
export function statuses(data: Buffer): number[] {
  const out: number[] = [];
  const re = /HTTP\/1\.[01] (\d{3})/g;
  const s = data.toString('latin1');
  let m;
  while ((m = re.exec(s))) out.push(Number(m[1]));
  return out;
}
