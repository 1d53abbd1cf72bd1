/**
 * Wiring of forwarding for server/app.ts: the store on the server's database, the service on the hub, and the API
 * routes, from the FORWARD_* settings.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config';
import type { Access } from '../http/access';
import type { Logger } from '../log';
import type { Hub } from '../media/hub';
import type { StreamRegistry } from '../media/registry';
import { StartupError } from '../net';
import { DEFAULT_FLUSH_MS } from '../relay/fanout';
import { forwardsRoute } from './api';
import { ForwardService } from './service';
import { ForwardStore } from './store';

/** Most bytes waiting to be sent to one target before it is dropped (the hub stops handing it media at 2 MiB). */
const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;
/** A live target that takes nothing of what waits for it for this long is dropped. */
const STALL_MS = 20_000;

export function startForwarding(deps: {
  config: Config['forward'];
  /** RTMP_WRITE_BATCH_MS: targets batch their writes like RTMP players (relay/fanout.ts). */
  writeBatchMs: number | undefined;
  hub: Hub;
  registry: StreamRegistry;
  access: Access;
  log: Logger;
}) {
  const { config, hub, registry, access, log } = deps;
  let ca: Buffer | undefined;
  if (config.tlsCaFile) {
    try {
      ca = readFileSync(config.tlsCaFile);
    } catch (err) {
      throw new StartupError(`FORWARD_TLS_CA_FILE: cannot read ${config.tlsCaFile} (${(err as Error).message})`);
    }
  }
  if (config.tlsAllowSelfSigned) log.warn('FORWARD_TLS_ALLOW_SELF_SIGNED=true: the certificates of rtmps:// forward targets are not checked');
  const service = new ForwardService(
    hub,
    new ForwardStore(registry.db),
    {
      connectTimeoutMs: config.connectTimeoutMs,
      minBackoffMs: config.retryMinMs,
      maxBackoffMs: config.retryMaxMs,
      maxBufferedBytes: MAX_BUFFERED_BYTES,
      stallMs: STALL_MS,
      writeBatchMs: deps.writeBatchMs ?? DEFAULT_FLUSH_MS,
      tls: { ca, allowSelfSigned: config.tlsAllowSelfSigned },
    },
    log,
  );
  const routeDeps = { access, forwards: service, streamExists: (id: string) => !!registry.get(id)?.keyHash };
  return {
    service,
    api: {
      route: (req: IncomingMessage, res: ServerResponse, streamSegment: string, forwardSegment: string | undefined) =>
        forwardsRoute(req, res, streamSegment, forwardSegment, routeDeps),
      states: (id: string) => service.states(id),
    },
  };
}
