/**
 * Before a TLS handshake: a connection costs the server a TLS session and a slot of its listener's maxConnections
 * until the handshake ends or times out (`handshakeTimeout`). So the per-address cap is applied to the TCP
 * connection, before any TLS byte is read: beyond it, the connection is closed at once (there is no TLS yet to
 * say why in). Handshake failures (plain HTTP bytes, garbage, a client that gives up) close the socket quietly.
 */
import type net from 'node:net';
import type tls from 'node:tls';

export interface HandshakeGuardOptions {
  /** TCP connections at once per client address, before and after the handshake; 0 or Infinity: no cap. */
  maxPerAddress: number;
  /** Addresses the cap does not apply to (loopback, for RTMP: our own clients). */
  exempt?: (address: string) => boolean;
  log?: { debug(obj: object, msg: string): void };
}

export interface HandshakeGuard {
  /** TCP connections closed at accept for their address's cap. */
  readonly refused: number;
  connectionsFrom(address: string): number;
}

export function guardHandshakes(server: tls.Server, opts: HandshakeGuardOptions): HandshakeGuard {
  const perAddress = new Map<string, number>();
  const max = opts.maxPerAddress > 0 ? opts.maxPerAddress : Infinity;
  const state = { refused: 0 };
  const tlsListeners = server.listeners('connection') as Array<(socket: net.Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: net.Socket) => {
    const addr = socket.remoteAddress ?? '';
    if (max !== Infinity && !opts.exempt?.(addr)) {
      const open = perAddress.get(addr) ?? 0;
      if (open >= max) {
        state.refused++;
        socket.on('error', () => undefined);
        socket.destroy();
        return;
      }
      perAddress.set(addr, open + 1);
      socket.once('close', () => {
        const n = (perAddress.get(addr) ?? 1) - 1;
        if (n > 0) perAddress.set(addr, n);
        else perAddress.delete(addr);
      });
    }
    for (const l of tlsListeners) l.call(server, socket);
  });
  server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
    opts.log?.debug({ err: err.message, address: socket.remoteAddress }, 'TLS handshake failed');
    socket.destroy();
  });
  return {
    get refused() {
      return state.refused;
    },
    connectionsFrom: (address) => perAddress.get(address) ?? 0,
  };
}
