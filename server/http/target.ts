/**
 * Request targets as URLs, never throwing: a target is whatever bytes the client put on its request line, and some
 * (`//[`, `//a:99999`, `http://[`) make `new URL` throw ERR_INVALID_URL. Such a request is the client's error (400),
 * not ours.
 */
import type { Duplex } from 'node:stream';

const BASE = 'http://localhost';

/** The request target as a URL (relative to a fixed origin), or null when it is not a valid one. */
export function parseTarget(target: string | undefined): URL | null {
  try {
    return new URL(target ?? '/', BASE);
  } catch {
    return null;
  }
}

/** Answer an upgrade request we do not take with a status, then close the socket (at once if it cannot be written). */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}
