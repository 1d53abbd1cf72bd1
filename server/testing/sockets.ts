/** Small waits on real sockets for tests. */
import type net from 'node:net';

/** Resolves with how many ms it took the peer to close `socket` (0 when already closed); rejects after `ms`. */
export function closedWithin(socket: net.Socket, ms: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}
