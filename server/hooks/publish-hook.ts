/**
 * The publish hook (PUBLISH_HOOK_URL): before a publish is accepted (RTMP or browser), POST
 *   {"streamId": "...", "address": "<client address>", "kind": "rtmp" | "browser"}
 * A 2xx answer allows it; any other answer refuses it with the answer's reason (a JSON {"reason": "..."} or the text
 * body, cut to 200 printable characters); no answer within timeoutMs follows onTimeout; a hook that cannot be reached
 * refuses. Signed like the webhooks when a secret is given.
 */
import { signature } from './webhooks';

export interface PublishRequest {
  streamId: string;
  address: string;
  kind: 'rtmp' | 'browser';
}

export type HookDecision = { ok: true } | { ok: false; reason: string };

export interface PublishHookOptions {
  url: string;
  timeoutMs: number;
  onTimeout: 'allow' | 'deny';
  secret?: string;
  log?: { warn(obj: object, msg: string): void };
}

const MAX_BODY = 4096;

function cleanReason(text: string): string {
  let reason = text.trim();
  try {
    const j = JSON.parse(reason) as unknown;
    if (j && typeof j === 'object' && typeof (j as { reason?: unknown }).reason === 'string') reason = (j as { reason: string }).reason;
  } catch {
    /* plain text */
  }
  return reason.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 200);
}

export class PublishHook {
  constructor(private readonly opts: PublishHookOptions) {}

  async check(req: PublishRequest): Promise<HookDecision> {
    const body = JSON.stringify(req);
    const ts = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'GoLive-PublishHook/1', 'X-GoLive-Timestamp': ts };
    if (this.opts.secret) headers['X-GoLive-Signature'] = signature(this.opts.secret, ts, body);
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.opts.timeoutMs);
    try {
      const res = await fetch(this.opts.url, { method: 'POST', headers, body, signal: abort.signal, redirect: 'manual' });
      if (res.status >= 200 && res.status < 300) {
        await res.body?.cancel().catch(() => undefined);
        return { ok: true };
      }
      const text = await readCapped(res);
      return { ok: false, reason: cleanReason(text) || `refused by the publish hook (HTTP ${res.status})` };
    } catch (err) {
      if (timedOut) {
        this.opts.log?.warn({ stream: req.streamId }, `publish hook did not answer in ${this.opts.timeoutMs} ms: ${this.opts.onTimeout}`);
        return this.opts.onTimeout === 'allow' ? { ok: true } : { ok: false, reason: 'the publish hook did not answer in time' };
      }
      this.opts.log?.warn({ err, stream: req.streamId }, 'publish hook unreachable: refused');
      return { ok: false, reason: 'the publish hook could not be reached' };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** At most MAX_BODY bytes of the answer. */
async function readCapped(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
    if (n >= MAX_BODY) {
      await reader.cancel().catch(() => undefined);
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8');
}
