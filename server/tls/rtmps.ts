/**
 * RTMPS_PORT: RTMP over TLS (OBS "rtmps://HOST:PORT/live", ffmpeg `-f flv rtmps://...`) with the certificate of
 * TLS_CERT/TLS_KEY (reloaded with it). Each TLS socket, once its handshake is done, goes to the RTMP server as an
 * outside connection: the same admission, per-address cap, deadlines and buffer limits as on RTMP_PORT. Before the
 * handshake the TCP connections are capped per address (guard.ts) and the handshake has RTMP's handshake deadline.
 */
import tls from 'node:tls';
import type { RtmpServer } from '../rtmp/server';
import type { CertificateKeeper } from './certificate';
import { guardHandshakes } from './guard';

/** When RTMP_HANDSHAKE_TIMEOUT_SECONDS is 0 ("none"), the TLS handshake still gets Node's default deadline. */
const DEFAULT_TLS_HANDSHAKE_MS = 120_000;

export function createRtmpsServer(opts: {
  keeper: CertificateKeeper;
  rtmp: RtmpServer;
  handshakeTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  log: { debug(obj: object, msg: string): void; error(obj: object, msg: string): void };
}): tls.Server {
  const server = tls.createServer({ ...opts.keeper.secureOptions(), handshakeTimeout: opts.handshakeTimeoutMs > 0 ? opts.handshakeTimeoutMs : DEFAULT_TLS_HANDSHAKE_MS }, (socket) => {
    socket.setNoDelay(true);
    opts.rtmp.acceptConnection(socket);
  });
  server.maxConnections = opts.maxConnections;
  server.on('error', (err) => opts.log.error({ err }, 'RTMPS listener error'));
  opts.keeper.attach(server);
  guardHandshakes(server, { maxPerAddress: opts.maxConnectionsPerAddress, log: opts.log });
  return server;
}
