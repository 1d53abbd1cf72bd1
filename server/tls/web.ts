/**
 * The listener on PORT: plain `http`, or `https` with the keeper's certificate when TLS_CERT/TLS_KEY are set. Both
 * are the same Node server class to the rest of app.ts (requests, upgrades, the front door); with TLS the front
 * door reads the TLS socket ('secureConnection') and the TCP connections are capped per address before the
 * handshake (guard.ts), whose deadline is the request-head timeout.
 */
import http from 'node:http';
import https from 'node:https';
import { StartupError } from '../net';
import { CertificateKeeper, TlsCertificateError, type TlsFiles } from './certificate';
import { guardHandshakes } from './guard';

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** Start-up: the certificate pair, or one clear line (StartupError) saying what is wrong with which file. */
export function openCertificate(files: TlsFiles, log: Log): CertificateKeeper {
  try {
    return CertificateKeeper.open(files, log);
  } catch (err) {
    if (err instanceof TlsCertificateError) throw new StartupError(err.message);
    throw err;
  }
}

export function createWebServer(opts: {
  options: http.ServerOptions;
  keeper: CertificateKeeper | null;
  headTimeoutMs: number;
  maxConnectionsPerAddress: number;
  /** Peers not held to maxConnectionsPerAddress (TRUST_PROXY: a proxy carries many clients). */
  exempt?: (address: string) => boolean;
  log: Log;
}): { server: http.Server; connectionEvent: 'connection' | 'secureConnection' } {
  const { keeper } = opts;
  if (!keeper) return { server: http.createServer(opts.options), connectionEvent: 'connection' };
  const server = https.createServer({ ...opts.options, ...keeper.secureOptions(), handshakeTimeout: opts.headTimeoutMs });
  keeper.attach(server);
  guardHandshakes(server, { maxPerAddress: opts.maxConnectionsPerAddress, exempt: opts.exempt, log: opts.log });
  return { server, connectionEvent: 'secureConnection' };
}
