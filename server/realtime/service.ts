/**
 * `/realtime/<id>`: fragmented MP4 over a WebSocket for browser players (Media Source Extensions). Viewing needs no
 * credentials and no Origin check (the same as /hls and RTMP play). Protocol and close codes:
 * docs/realtime-protocol.md.
 */

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Hub } from '../media/hub';
import { STREAM_ID_PATTERN, type StreamRegistry } from '../media/registry';
import { FanoutGroup, fanoutDefaults } from '../relay/fanout';
import { FragmentEncoder } from './encoder';
import { binaryFrame } from './frame';
import { RealtimeViewer, type ClockMessage } from './viewer';
import { clientAddress } from '../http/trust-proxy';

export const REALTIME_PREFIX = '/realtime/';

/** Close codes (docs/realtime-protocol.md). */
export const RealtimeClose = {
  Ended: 1000,
  Restarting: 1012,
  NotFound: 4404,
  TooSlow: 4408,
  Unsupported: 4415,
  TooMany: 4429,
} as const;

/** Client messages are not part of the protocol; anything larger than this closes the socket (1009). */
export const MAX_CLIENT_MESSAGE_BYTES = 1024;
/** After our close frame, the socket is cut this long after whether the peer answers or not. */
const CLOSE_GRACE_MS = 2000;

export interface RealtimeLimits {
  /** Sockets at once from one client address. */
  maxSocketsPerAddress: number;
  /** Sockets at once in the whole server. */
  maxSockets: number;
}

export interface RealtimeDeps {
  hub: Hub;
  registry: StreamRegistry;
  limits: RealtimeLimits;
  /** Batching window of the viewers' writes (relay/fanout.ts); 0 writes every fragment at once. */
  writeBatchMs?: number;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

interface StreamFanout {
  encoder: FragmentEncoder;
  group: FanoutGroup;
}

/** The close code and reason for the end of a subscription (the hub's reason, or the viewer's own). */
function closeFor(reason: string): [number, string] {
  if (reason === 'subscriber too slow') return [RealtimeClose.TooSlow, 'too slow: the connection could not keep up'];
  if (reason === 'server stopping') return [RealtimeClose.Restarting, 'server restarting'];
  if (reason === 'unsupported codec') return [RealtimeClose.Unsupported, 'this stream is not H.264/AAC'];
  return [RealtimeClose.Ended, 'ended'];
}

export class RealtimeService {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });
  private readonly perAddress = new Map<string, number>();
  private readonly sockets = new Set<WebSocket>();
  private readonly viewers = new Map<RealtimeViewer, string>();
  private readonly streams = new Map<string, StreamFanout>();
  /** Viewers per stream id. */
  private readonly perStream = new Map<string, number>();
  private total = 0;
  private closing = false;
  private readonly flushMs: number;

  constructor(private readonly deps: RealtimeDeps) {
    this.flushMs = deps.writeBatchMs ?? fanoutDefaults.flushMs;
  }

  /** Open sockets (refused ones too, until they close) and viewers subscribed. */
  counts(): { sockets: number; viewers: number } {
    return { sockets: this.total, viewers: this.viewers.size };
  }

  /** Realtime viewers of one stream (for the API's viewer count). */
  viewersOf(id: string): number {
    return this.perStream.get(id) ?? 0;
  }

  private count(id: string, delta: number): void {
    const n = (this.perStream.get(id) ?? 0) + delta;
    if (n <= 0) this.perStream.delete(id);
    else this.perStream.set(id, n);
  }

  /** The viewer is over (hub end, socket closed): forget it once. */
  private forget(viewer: RealtimeViewer, id: string): void {
    if (this.viewers.delete(viewer)) this.count(id, -1);
  }

  /** Each viewer's bytes waiting on the server (socket unsent + its queue), for tests and diagnostics. */
  queued(): Array<{ stream: string; bytes: number }> {
    return [...this.viewers].map(([v, stream]) => ({ stream, bytes: v.bufferedBytes() }));
  }

  /** Fragments encoded for a stream's viewers (once per frame, whatever their number); null without viewers. */
  encodedFragments(id: string): number | null {
    return this.streams.get(id)?.encoder.encoded ?? null;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pathname: string): void {
    if (this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const address = clientAddress(req) || '?';
    const open = this.perAddress.get(address) ?? 0;
    const total = this.total;
    this.perAddress.set(address, open + 1);
    this.total++;
    let counted = true;
    socket.once('close', () => {
      if (!counted) return;
      counted = false;
      this.total--;
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, n);
    });
    const { limits } = this.deps;
    const id = pathname.slice(REALTIME_PREFIX.length);
    const refusal: [number, string] | null =
      open >= limits.maxSocketsPerAddress
        ? [RealtimeClose.TooMany, `too many connections from your address (at most ${limits.maxSocketsPerAddress})`]
        : total >= limits.maxSockets
          ? [RealtimeClose.TooMany, 'too many realtime viewers on this server: try again later']
          : !STREAM_ID_PATTERN.test(id) || (!this.deps.registry.get(id) && !this.deps.hub.isActive(id))
            ? [RealtimeClose.NotFound, 'no such stream']
            : null;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // A protocol error from the peer is an 'error' event: without a listener it would be an uncaught exception.
      ws.on('error', () => undefined);
      // Client messages mean nothing (yet): ignored; oversize ones close the socket (maxPayload, 1009).
      ws.on('message', () => undefined);
      this.sockets.add(ws);
      ws.once('close', () => this.sockets.delete(ws));
      if (refusal) {
        if (refusal[0] === RealtimeClose.TooMany) this.deps.log.warn({ remote: address, open, total }, `realtime socket refused: ${refusal[1]}`);
        this.close(ws, ...refusal);
        return;
      }
      this.watch(ws, id, address);
    });
  }

  private watch(ws: WebSocket, id: string, address: string): void {
    let fanout = this.streams.get(id);
    if (!fanout) {
      const f: StreamFanout = {
        encoder: new FragmentEncoder(),
        group: new FanoutGroup(this.flushMs, () => {
          if (this.streams.get(id) === f) this.streams.delete(id);
        }),
      };
      this.streams.set(id, (fanout = f));
    }
    let unsubscribe = (): void => undefined;
    const sink = {
      send: (b: Buffer, clock?: ClockMessage) => {
        if (ws.readyState !== ws.OPEN) return;
        // The frame is built once per shared batch (frame.ts); the ws library would frame it again per socket. Written
        // to the socket whole, between the library's own writes (control frames), never inside one; a clock message
        // after it in the same write (corked: one writev).
        const raw = (ws as unknown as { _socket?: Duplex })._socket;
        if (raw && !raw.destroyed) {
          if (!clock) raw.write(binaryFrame(b));
          else {
            raw.cork();
            raw.write(binaryFrame(b));
            raw.write(clock.frame);
            raw.uncork();
          }
        } else {
          ws.send(b, { binary: true });
          if (clock) ws.send(clock.text, { binary: false });
        }
      },
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
    };
    const viewer = new RealtimeViewer(sink, fanout.encoder, fanout.group, (reason) => {
      this.forget(viewer, id);
      unsubscribe();
      this.close(ws, ...closeFor(reason));
    });
    this.viewers.set(viewer, id);
    this.count(id, 1);
    ws.once('close', () => {
      this.forget(viewer, id);
      unsubscribe();
      viewer.detach();
    });
    unsubscribe = this.deps.hub.subscribe(id, viewer);
    // Ended inside its start (nothing playable in the cached GOP's configs): the hub must forget it now.
    if (!this.viewers.has(viewer)) unsubscribe();
    this.deps.log.info({ remote: address, stream: id }, 'realtime viewer joined');
  }

  private close(ws: WebSocket, code: number, reason: string): void {
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
    setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** Refuse new sockets from now on (the drain's first step; the hub's end closes the viewers). */
  stopAccepting(): void {
    this.closing = true;
  }

  /** Cut every socket now. */
  closeAll(): void {
    this.closing = true;
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
  }
}
