/**
 * Wires RTMP connections to the hub: publishers become publish sessions, players become
 * subscribers. The only place that knows both the RTMP session API and the hub.
 */
import { MediaFormatError, parseAudioTag, parseVideoTag, type MediaPacket } from '../codec/flv';
import { Hub, PublishRefused, type PublishSession, type StreamInit, type SubscriberSink } from '../media/hub';
import { STREAM_ID_PATTERN, type StreamRegistry } from '../media/registry';
import { encodeAmf0, type Amf0Object } from '../rtmp/amf0';
import { withStreamId } from '../rtmp/chunk';
import { RtmpProtocolError } from '../rtmp/errors';
import { peerText } from '../rtmp/peer-text';
import type { ConnectionHandler, RtmpConnection, RtmpLog } from '../rtmp/server';
import { UserControlEvent } from '../rtmp/messages';
import { RtmpSession, type Decision } from '../rtmp/session';
import { FanoutGroup, fanoutDefaults, type PlayerQueue } from './fanout';

export interface RelayDeps {
  hub: Hub;
  registry: StreamRegistry;
  publishAuth: 'key' | 'none';
  log: RtmpLog;
  /** The RTMP application name clients connect to. */
  app?: string;
  /**
   * Media for RTMP players is written in batches, at most this many ms after it arrived (one
   * flush per stream for all its players; see fanout.ts). 0 writes every message at once.
   */
  flushMs?: number;
  /** The same for video frames, at most flushMs (0: at the end of the event-loop turn they came in). */
  videoFlushMs?: number;
  /**
   * Asked before an outside client's publish is accepted (PUBLISH_HOOK_URL; server/hooks/publish-hook.ts); our own
   * ingest ffmpeg (internal connections) is not asked again: its browser was.
   */
  publishHook?: (req: { streamId: string; address: string; kind: 'rtmp' }) => Promise<{ ok: true } | { ok: false; reason: string }>;
}

/**
 * One media encoding per packet (on message stream 1, where nearly every player is), shared by every player of the
 * stream; a codec config is also sent at the start of the GOP a player joins at, encoded once per such timestamp.
 */
const encoded = new WeakMap<MediaPacket, Buffer>();
const encodedAt = new WeakMap<MediaPacket, { timestamp: number; bytes: Buffer }>();
export function sharedEncoding(p: MediaPacket, timestamp = p.dts): Buffer {
  if (timestamp === p.dts) {
    let b = encoded.get(p);
    if (!b) encoded.set(p, (b = RtmpSession.encodeMedia(1, p.kind, p.dts, p.flv)));
    return b;
  }
  const e = encodedAt.get(p);
  if (e && e.timestamp === timestamp) return e.bytes;
  const bytes = RtmpSession.encodeMedia(1, p.kind, timestamp, p.flv);
  encodedAt.set(p, { timestamp, bytes });
  return bytes;
}

/**
 * Hands `out` the bytes of a shared (stream 1) encoding for a player on `streamId`: as they are, or for another stream
 * id a header of its own followed by a view of the shared bytes, never a copy of the payload (a player on stream 2
 * used to cost a private encoding of the whole GOP per play).
 */
function forStream(streamId: number, bytes: Buffer, out: (b: Buffer) => void): void {
  if (streamId === 1) return out(bytes);
  const [head, rest] = withStreamId(bytes, streamId);
  out(head);
  if (rest.length) out(rest);
}

/** The onMetaData message of a metadata object, encoded once (for stream 1) however many players get it. */
const metadataEncoded = new WeakMap<object, Buffer>();
function metadataMessage(m: Record<string, unknown>): Buffer {
  let b = metadataEncoded.get(m);
  if (!b) metadataEncoded.set(m, (b = RtmpSession.encodeData(1, encodeAmf0('onMetaData', m as Amf0Object))));
  return b;
}

/** Small payloads may be views into a large socket read; copy them so caches do not pin whole reads. */
function own(payload: Buffer): Buffer {
  return payload.byteOffset === 0 && payload.buffer.byteLength === payload.length ? payload : Buffer.from(payload);
}

class RtmpPlayer implements SubscriberSink {
  readonly kind = 'rtmp';
  private starts = 0;
  private readonly queue: PlayerQueue;
  constructor(
    private readonly conn: RtmpConnection,
    private readonly streamId: number,
    private readonly name: string,
    group: FanoutGroup,
    private readonly videoFlushMs: number,
  ) {
    this.queue = group.join(conn, streamId === 1);
  }

  start(init: StreamInit): void {
    this.queue.flush();
    // The whole start (up to a GOP of messages) in one write.
    this.conn.corked(() => {
      const s = this.conn.session;
      const write = (b: Buffer) => this.conn.write(b);
      if (this.starts++ > 0) s.notifyPublish(this.streamId, this.name);
      if (init.metadata) forStream(this.streamId, metadataMessage(init.metadata), write);
      const t0 = init.gop[0]?.dts;
      for (const cfg of [init.videoConfig, init.audioConfig]) {
        if (cfg) forStream(this.streamId, sharedEncoding(cfg, t0 ?? cfg.dts), write);
      }
      for (const p of init.gop) forStream(this.streamId, sharedEncoding(p), write);
    });
  }
  packet(p: MediaPacket): void {
    // Written within flushMs, video frames within videoFlushMs (by default the same 33 ms).
    const wait = p.kind === 'video' ? this.videoFlushMs : undefined;
    forStream(this.streamId, sharedEncoding(p), (b) => this.queue.push(b, wait));
  }
  metadata(m: Record<string, unknown>): void {
    this.queue.flush();
    forStream(this.streamId, metadataMessage(m), (b) => this.conn.write(b));
  }
  unpublished(): void {
    this.queue.flush();
    // Only "no data for now": ffmpeg, ffplay and librtmp players end the stream on UnpublishNotify,
    // which would defeat the grace period. UnpublishNotify is sent when the stream really ends.
    this.conn.session.sendUserControl(UserControlEvent.StreamDry, this.streamId);
  }
  end(reason: string): void {
    this.queue.flush();
    this.conn.session.notifyUnpublish(this.streamId, this.name);
    this.conn.session.notifyPlayStop(this.streamId, this.name, reason);
    this.queue.leave();
    this.conn.close(reason);
  }
  bufferedBytes(): number {
    return this.conn.bufferedBytes() + this.queue.bytes;
  }
  /** The player stopped playing or is gone: drop what is queued. */
  detach(): void {
    this.queue.leave();
  }
}

const refuse = (code: string, description: string): Decision => ({ ok: false, code, description });

export type RtmpRelay = ((conn: RtmpConnection) => ConnectionHandler) & {
  /** The batching groups of streams that have RTMP players, by stream id (for diagnostics and tests). */
  readonly fanout: ReadonlyMap<string, FanoutGroup>;
};

export function rtmpRelay(deps: RelayDeps): RtmpRelay {
  const { hub, registry, log } = deps;
  const appName = deps.app ?? 'live';
  const flushMs = deps.flushMs ?? fanoutDefaults.flushMs;
  const videoFlushMs = Math.min(flushMs, deps.videoFlushMs ?? fanoutDefaults.videoFlushMs);
  /** One batching group per hub stream, shared by all its RTMP players. */
  const groups = new Map<string, FanoutGroup>();
  const groupOf = (id: string): FanoutGroup => {
    let g = groups.get(id);
    if (!g) {
      const group = new FanoutGroup(flushMs, () => {
        if (groups.get(id) === group) groups.delete(id);
      });
      groups.set(id, (g = group));
    }
    return g;
  };
  const relay = (conn: RtmpConnection): ConnectionHandler => {
    const publishing = new Map<number, { id: string; session: PublishSession }>();
    const playing = new Map<number, { id: string; sink: RtmpPlayer; unsubscribe: () => void }>();
    /** The connection closed (a publish hook's answer may come after). */
    let gone = false;
    const startPublish = (streamId: number, id: string): Decision => {
      let session: PublishSession;
      try {
        session = hub.publish(id, { kind: 'rtmp', remote: conn.remote, drop: (reason) => conn.close(reason) });
      } catch (err) {
        if (err instanceof PublishRefused) {
          log.warn({ conn: conn.id, remote: conn.remote, stream: id }, 'RTMP publish refused: stream already has a live publisher');
          return refuse('NetStream.Publish.BadName', 'Stream already publishing.');
        }
        throw err;
      }
      publishing.set(streamId, { id, session });
      log.info({ conn: conn.id, remote: conn.remote, stream: id }, 'RTMP publish started');
      return { ok: true };
    };

    return {
      connect(info) {
        if (info.app !== appName) {
          log.info({ conn: conn.id, remote: conn.remote, app: peerText(info.app) }, 'RTMP connect refused: unknown application');
          return refuse('NetConnection.Connect.Rejected', `Unknown application "${peerText(info.app)}"; use rtmp://host/${appName}/...`);
        }
        return { ok: true };
      },

      publish({ streamId, name }) {
        let id: string;
        if (deps.publishAuth === 'none') {
          if (!STREAM_ID_PATTERN.test(name)) return refuse('NetStream.Publish.BadName', 'Invalid stream name.');
          id = registry.ensureOpen(name).id;
        } else {
          const record = registry.verifyKey(name);
          if (!record) {
            log.warn({ conn: conn.id, remote: conn.remote }, 'RTMP publish refused: wrong or missing stream key');
            return refuse('NetStream.Publish.Unauthorized', 'Publishing needs a valid stream key (create one with POST /api/streams).');
          }
          id = record.id;
        }
        const accept = (): Decision => {
          if (gone) return refuse('NetStream.Publish.Failed', 'Connection closed.');
          return startPublish(streamId, id);
        };
        if (deps.publishHook && !conn.internal) {
          return deps.publishHook({ streamId: id, address: conn.address ?? conn.remote, kind: 'rtmp' }).then((d) => {
            if (d.ok) return accept();
            log.warn({ conn: conn.id, remote: conn.remote, stream: id, reason: d.reason }, 'RTMP publish refused by the publish hook');
            return refuse('NetStream.Publish.Unauthorized', d.reason);
          });
        }
        return accept();
      },

      play({ streamId, name }) {
        const id = name;
        if (!STREAM_ID_PATTERN.test(id) || (!registry.get(id) && !hub.isActive(id))) {
          return refuse('NetStream.Play.StreamNotFound', `No such stream: ${peerText(id)}.`);
        }
        const sink = new RtmpPlayer(conn, streamId, id, groupOf(id), videoFlushMs);
        // Reply to play first (the session does it after this returns), then the media.
        queueMicrotask(() => {
          if (playing.get(streamId)?.sink !== sink) return;
          const unsubscribe = hub.subscribe(id, sink);
          playing.set(streamId, { id, sink, unsubscribe });
        });
        playing.set(streamId, { id, sink, unsubscribe: () => undefined });
        log.info({ conn: conn.id, remote: conn.remote, stream: id }, 'RTMP play started');
        return { ok: true };
      },

      media({ streamId, kind, timestamp, payload }) {
        const pub = publishing.get(streamId);
        if (!pub) return;
        let p: MediaPacket;
        try {
          const body = own(payload);
          p = kind === 'video' ? parseVideoTag(body, timestamp, Date.now()) : parseAudioTag(body, timestamp, Date.now());
        } catch (err) {
          if (err instanceof MediaFormatError) throw new RtmpProtocolError(err.message);
          throw err;
        }
        pub.session.packet(p);
      },

      metadata({ streamId, data }) {
        publishing.get(streamId)?.session.metadata(data as Record<string, unknown>);
      },

      streamClosed(streamId, role) {
        if (role === 'publish') {
          const pub = publishing.get(streamId);
          publishing.delete(streamId);
          if (pub) {
            pub.session.end('publisher stopped');
            log.info({ conn: conn.id, stream: pub.id }, 'RTMP publish stopped');
          }
        } else {
          const p = playing.get(streamId);
          playing.delete(streamId);
          p?.unsubscribe();
          p?.sink.detach();
        }
      },

      closed(reason) {
        gone = true;
        for (const [, pub] of publishing) {
          pub.session.end(reason);
          log.info({ conn: conn.id, stream: pub.id, reason }, 'RTMP publisher disconnected');
        }
        publishing.clear();
        for (const [, p] of playing) {
          p.unsubscribe();
          p.sink.detach();
        }
        playing.clear();
      },
    };
  };
  return Object.assign(relay, { fanout: groups as ReadonlyMap<string, FanoutGroup> });
}
