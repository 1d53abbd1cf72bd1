/**
 * Forwarding for the whole server: one Forwarder (forwarder.ts) per enabled target of each live stream. A stream's
 * targets start when it goes live (the hub's `publish` event; a publisher coming back within the grace period finds
 * them still running and changes nothing) and end with the stream; a change through the API applies at once
 * (`reconcile`). States for the API come from here; the URLs in them, and in every log line, are masked.
 */
import type { Hub } from '../media/hub';
import { TypedEmitter } from '../media/typed-emitter';
import type { Logger } from '../log';
import { Forwarder, type ForwarderOptions, type ForwardState } from './forwarder';
import type { ForwardRecord, ForwardStore } from './store';
import { maskRawUrl, parseForwardUrl } from './url';

export interface ForwardView {
  id: string;
  label: string;
  /** The URL with its key masked. */
  url: string;
  enabled: boolean;
  /** `idle`: the stream is not live; `disabled`: switched off; else the connection's state. */
  state: ForwardState | 'idle' | 'disabled';
  reason?: string;
  retryInSeconds?: number;
  bitrateKbps: number;
  createdAt: string;
}

/** A forward target's connection went down (webhooks: `forward.failed`). No URL, no key. */
export interface ForwardDown {
  streamId: string;
  targetId: string;
  label: string;
  state: 'failed' | 'retrying';
  reason: string;
  retryInSeconds: number;
}

interface Running {
  streamId: string;
  url: string;
  forwarder: Forwarder;
}

export class ForwardService {
  private readonly running = new Map<string, Running>();
  private closed = false;
  /** What the targets do, for others (webhooks) to hear; forwarding knows nothing of them. */
  readonly events = new TypedEmitter<{ down: ForwardDown }>();
  /** Bytes sent by forwarders no longer running (with the running ones': `bytesSent`). */
  private bytesOfStopped = 0;

  constructor(
    private readonly hub: Hub,
    readonly store: ForwardStore,
    private readonly options: ForwarderOptions,
    private readonly log: Pick<Logger, 'info' | 'warn' | 'error'>,
  ) {
    hub.events.on('publish', ({ id }) => this.reconcile(id));
  }

  /** Start what should run for `streamId` and stop what should not (targets changed, disabled, deleted). */
  reconcile(streamId: string): void {
    if (this.closed) return;
    let records: ForwardRecord[];
    try {
      records = this.store.list(streamId);
    } catch (err) {
      this.log.error({ err, stream: streamId }, 'reading forward targets failed');
      return;
    }
    const wanted = new Map(records.filter((r) => r.enabled).map((r) => [r.id, r]));
    for (const [id, run] of this.running) {
      if (run.streamId !== streamId) continue;
      const w = wanted.get(id);
      if (!w || w.url !== run.url) run.forwarder.stop();
    }
    if (!this.hub.isActive(streamId)) return;
    for (const r of wanted.values()) {
      if (this.running.has(r.id)) continue;
      let url;
      try {
        url = parseForwardUrl(r.url);
      } catch {
        continue; // stored through the API, so valid; a hand-edited row is skipped
      }
      const forwarder = new Forwarder(
        r.id,
        url,
        (sink) => this.hub.subscribe(streamId, sink),
        this.options,
        this.log,
        (f) => {
          if (this.running.get(r.id)?.forwarder === f) this.running.delete(r.id);
          this.bytesOfStopped += f.bytesSent;
        },
      );
      forwarder.onDown = (state, reason, retryInMs) =>
        this.events.emit('down', { streamId, targetId: r.id, label: r.label, state, reason, retryInSeconds: Math.ceil(retryInMs / 1000) });
      this.running.set(r.id, { streamId, url: r.url, forwarder });
      this.log.info({ stream: streamId, target: r.id, url: maskRawUrl(r.url) }, 'forward target starting');
      forwarder.begin();
    }
  }

  view(r: ForwardRecord, now = Date.now()): ForwardView {
    const run = this.running.get(r.id);
    const base = { id: r.id, label: r.label, url: maskRawUrl(r.url), enabled: r.enabled, createdAt: new Date(r.createdAt).toISOString() };
    if (run && run.streamId === r.streamId) {
      const s = run.forwarder.status(now);
      return { ...base, state: s.state, ...(s.reason ? { reason: s.reason } : {}), ...(s.retryInSeconds !== undefined ? { retryInSeconds: s.retryInSeconds } : {}), bitrateKbps: s.bitrateKbps };
    }
    return { ...base, state: r.enabled ? 'idle' : 'disabled', bitrateKbps: 0 };
  }

  /** Every target of the stream with its state (URLs masked). */
  states(streamId: string): ForwardView[] {
    const now = Date.now();
    return this.store.list(streamId).map((r) => this.view(r, now));
  }

  /** The running forwarder of a target (tests, diagnostics). */
  forwarder(id: string): Forwarder | undefined {
    return this.running.get(id)?.forwarder;
  }

  get activeCount(): number {
    return this.running.size;
  }

  /** Running targets by state (metrics). */
  countsByState(): Record<'connecting' | 'live' | 'retrying' | 'failed', number> {
    const c = { connecting: 0, live: 0, retrying: 0, failed: 0 };
    for (const run of this.running.values()) c[run.forwarder.status().state]++;
    return c;
  }

  /** Bytes of media sent to forward targets since start. */
  get bytesSent(): number {
    let n = this.bytesOfStopped;
    for (const run of this.running.values()) n += run.forwarder.bytesSent;
    return n;
  }

  /** Stop every target (a clean end where the socket still takes it). */
  close(): void {
    this.closed = true;
    for (const run of [...this.running.values()]) run.forwarder.stop();
  }
}
