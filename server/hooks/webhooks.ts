/**
 * Webhooks: JSON events POSTed to each WEBHOOK_URL, signed, in order per receiver, retried with backoff, from a
 * bounded queue. Sending never blocks streaming: the hub's listeners only enqueue. A receiver that hangs costs one
 * request at a time (cut at timeoutMs); a queue that is full drops its oldest event (counted).
 *
 * Signature (when WEBHOOK_SECRET is set), per request:
 *   X-GoLive-Timestamp: <unix seconds when this attempt was sent>
 *   X-GoLive-Signature: sha256=<hex HMAC-SHA256(WEBHOOK_SECRET, "<timestamp>.<raw body>")>
 * A receiver recomputes it over the raw body and refuses timestamps more than a few minutes off (replays).
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { ForwardDown } from '../forward/service';
import type { Hub } from '../media/hub';
import type { TypedEmitter } from '../media/typed-emitter';
import type { RecordingReady } from '../record/service';

export type WebhookEventType = 'stream.live' | 'stream.ended' | 'publisher.dropped' | 'publisher.resumed' | 'recording.ready' | 'forward.failed';

export interface WebhookEvent {
  /** Unique per event; the same in every retry (receivers de-duplicate with it). */
  id: string;
  type: WebhookEventType;
  /** ISO time the event happened. */
  at: string;
  streamId: string;
  reason?: string;
  /** recording.ready: the recording (id, times, duration, bytes, URLs). */
  recording?: Omit<RecordingReady, 'streamId'>;
  /** forward.failed: the target (id and label, never its URL or key), its state and the platform's reason. */
  forward?: Omit<ForwardDown, 'streamId'>;
}

export interface WebhookOptions {
  urls: string[];
  secret?: string;
  /** Events waiting per receiver; beyond it the oldest is dropped. */
  maxQueue: number;
  /** One attempt's deadline, ms. */
  timeoutMs: number;
  /** Attempts per event before it is given up. */
  maxAttempts: number;
  /** First retry delay, ms; doubled each time up to 30 s. */
  backoffMs: number;
  log?: { warn(obj: object, msg: string): void };
}

export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

class Receiver {
  readonly queue: string[] = [];
  busy = false;
  attempt = 0;
  timer: ReturnType<typeof setTimeout> | null = null;
  abort: AbortController | null = null;
  constructor(readonly url: string) {}
}

export class WebhookSender {
  readonly counts = { delivered: 0, failed: 0, dropped: 0, retried: 0 };
  private readonly receivers: Receiver[];
  private closed = false;
  private offs: Array<() => void> = [];

  constructor(private readonly opts: WebhookOptions) {
    this.receivers = opts.urls.map((u) => new Receiver(u));
  }

  /** Events from the hub: live, dropped, resumed, ended. */
  attach(hub: Hub): void {
    this.offs.push(
      hub.events.on('publish', ({ id, resumed }) => this.emit(resumed ? 'publisher.resumed' : 'stream.live', id)),
      hub.events.on('unpublish', ({ id, reason }) => this.emit('publisher.dropped', id, reason)),
      hub.events.on('end', ({ id }) => this.emit('stream.ended', id)),
    );
  }

  /** Recordings that ended and are playable: `recording.ready`. */
  attachRecording(events: TypedEmitter<{ ready: RecordingReady }>): void {
    this.offs.push(events.on('ready', ({ streamId, ...recording }) => this.emit('recording.ready', streamId, undefined, { recording })));
  }

  /** Forward targets that went down (refused or retrying): `forward.failed`. */
  attachForwarding(events: TypedEmitter<{ down: ForwardDown }>): void {
    this.offs.push(events.on('down', ({ streamId, ...forward }) => this.emit('forward.failed', streamId, forward.reason, { forward })));
  }

  /** Events waiting, over all receivers. */
  get queued(): number {
    return this.receivers.reduce((n, r) => n + r.queue.length, 0);
  }

  emit(type: WebhookEventType, streamId: string, reason?: string, extra: Pick<WebhookEvent, 'recording' | 'forward'> = {}): void {
    if (this.closed || this.receivers.length === 0) return;
    const event: WebhookEvent = { id: randomUUID(), type, at: new Date().toISOString(), streamId, ...(reason ? { reason } : {}), ...extra };
    const body = JSON.stringify(event);
    for (const r of this.receivers) {
      r.queue.push(body);
      if (r.queue.length > this.opts.maxQueue) {
        // The oldest waiting event goes, never the one being sent (that one is shifted when its attempt ends).
        r.queue.splice(r.busy ? 1 : 0, 1);
        this.counts.dropped++;
      }
      this.pump(r);
    }
  }

  private pump(r: Receiver): void {
    if (this.closed || r.busy || r.timer || r.queue.length === 0) return;
    r.busy = true;
    const body = r.queue[0];
    void this.send(r, body).then((ok) => {
      r.busy = false;
      r.abort = null;
      if (this.closed) return;
      if (r.queue[0] !== body) {
        // Dropped from the queue while in flight (only possible past maxQueue with maxQueue 0): nothing to retry.
        r.attempt = 0;
      } else if (ok) {
        r.queue.shift();
        r.attempt = 0;
        this.counts.delivered++;
      } else if (++r.attempt >= this.opts.maxAttempts) {
        r.queue.shift();
        r.attempt = 0;
        this.counts.failed++;
        this.opts.log?.warn({ url: r.url }, `webhook given up after ${this.opts.maxAttempts} attempts`);
      } else {
        this.counts.retried++;
        const delay = Math.min(30_000, this.opts.backoffMs * 2 ** (r.attempt - 1));
        r.timer = setTimeout(() => {
          r.timer = null;
          this.pump(r);
        }, delay);
        r.timer.unref();
        return;
      }
      this.pump(r);
    });
  }

  private async send(r: Receiver, body: string): Promise<boolean> {
    const ts = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'GoLive-Webhook/1', 'X-GoLive-Timestamp': ts };
    if (this.opts.secret) headers['X-GoLive-Signature'] = signature(this.opts.secret, ts, body);
    r.abort = new AbortController();
    const timer = setTimeout(() => r.abort?.abort(), this.opts.timeoutMs);
    try {
      const res = await fetch(r.url, { method: 'POST', headers, body, signal: r.abort.signal, redirect: 'manual' });
      await res.body?.cancel().catch(() => undefined);
      return res.status >= 200 && res.status < 300;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.closed = true;
    for (const off of this.offs) off();
    for (const r of this.receivers) {
      if (r.timer) clearTimeout(r.timer);
      r.timer = null;
      r.abort?.abort();
      r.queue.length = 0;
    }
  }
}
