/**
 * Optional preload for the server process of viewers.ts (no server code is changed):
 *
 *   HLS_BENCH_PROBE_FILE=/tmp/parts.txt node --import tsx --import ./bench/hls/server-probe.ts server/index.ts --api-only
 *
 * It wraps Segmenter.prototype.packet and, on each segmenter's first packet, the instance's
 * onChange (set by the HLS service), and appends one line per new part to the probe file:
 *   <msn> <index> <ready wall ms> <closing frame receivedAt> <last packet receivedAt> <burst ms>
 * where burst is the time from "ready" to the next check phase (setImmediate): the synchronous
 * fan-out that answers every request blocked on that part (and the rest of that event-loop turn).
 * "ready" is taken when the segmenter announces the part, before blocked requests are woken.
 * Every second it also appends the server's event-loop delay over that second (ms):
 *   L <wall ms> <p50> <p99> <max>
 * and, from a wrapper of ServerResponse.end, when each response for a part was handed to the kernel
 * (end() returned: on loopback the bytes are then in the client's socket), counted from the part's
 * ready time, as a sparse histogram of 0.25 ms buckets over that second:
 *   R <wall ms> <bucket>:<count> ...
 * so the load generator can tell the server's share of the delay from its own. For part requests
 * sent after the part was ready (players that fetch a part once the playlist lists it; the load
 * generator puts its send time in an X-Sent header), three more, from a wrapper of
 * http.Server#emit('request') (the moment the server handles the request):
 *   C <wall ms> ...   sent − part ready (playlist delivery and the client's own work)
 *   Q <wall ms> ...   handled − sent (loopback, and waiting for the server's event loop)
 *   S <wall ms> ...   response written − handled
 * and one for blocking playlist reloads (?_HLS_msn=M&_HLS_part=P) answered with part (M, P):
 *   P <wall ms> ...   playlist response written − part ready
 * Requests the HTTP front door answers on the raw socket (server/http/front.ts: every /hls/ request of
 * a connection that carries nothing else, so all of the load generator's) never reach ServerResponse:
 * for those, R and P come from a wrapper of the reply's send (HlsService#answer tells which request it
 * answers); C, Q and S need the X-Sent header, which the front door does not keep, so they are absent.
 * Cost: a wrapper call per packet, a ~40-byte write per part (5 per second), and a regex and a map
 * look-up per HTTP response.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { Server, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { MediaPacket } from '../../server/codec/flv';
import { Segmenter } from '../../server/hls/segmenter';
import { HlsService, type HlsReply } from '../../server/hls/service';

const file = process.env.HLS_BENCH_PROBE_FILE;
if (file) {
  const fd = openSync(file, 'a');
  process.on('exit', () => closeSync(fd));
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  /** Ready time (wall ms) of the newest parts, by "<msn>.<index>". */
  const readyAt = new Map<string, number>();
  /** Histograms of this second (R, A, S above): 0.25 ms bucket → count. */
  const hists = new Map<string, Map<number, number>>(['R', 'C', 'Q', 'S', 'P'].map((h) => [h, new Map()]));
  const note = (h: string, ms: number) => {
    const m = hists.get(h)!;
    const b = Math.max(0, Math.floor(ms * 4));
    m.set(b, (m.get(b) ?? 0) + 1);
  };
  setInterval(() => {
    const ms = (ns: number) => (ns / 1e6).toFixed(1);
    const now = Date.now();
    writeSync(fd, `L ${now} ${ms(lag.percentile(50))} ${ms(lag.percentile(99))} ${ms(lag.max)}\n`);
    lag.reset();
    for (const [h, m] of hists) {
      if (m.size === 0) continue;
      let line = `${h} ${now}`;
      for (const [b, c] of m) line += ` ${b}:${c}`;
      writeSync(fd, `${line}\n`);
      m.clear();
    }
  }, 1000).unref();
  const arrived = new WeakMap<ServerResponse, { at: number; sent: number }>();
  const serverProto = Server.prototype as unknown as { emit(this: Server, ev: string | symbol, ...a: unknown[]): boolean };
  const origEmit = serverProto.emit;
  serverProto.emit = function (this: Server, ev: string | symbol, ...a: unknown[]) {
    if (ev === 'request') {
      const raw = (a[0] as { rawHeaders: string[] }).rawHeaders;
      const i = raw.indexOf('X-Sent');
      if (i >= 0) arrived.set(a[1] as ServerResponse, { at: performance.timeOrigin + performance.now(), sent: Number(raw[i + 1]) });
    }
    return origEmit.call(this, ev, ...a);
  };
  const PART = /-part(\d+)\.(\d+)\.m4s$/;
  const RELOAD = /index\.m3u8\?_HLS_msn=(\d+)&_HLS_part=(\d+)/;
  /** R and P for a response to `url` with `status`, written now. */
  const written = (url: string, status: number) => {
    if (status !== 200) return;
    const m = PART.exec(url);
    const ready = m ? readyAt.get(`${m[1]}.${m[2]}`) : undefined;
    if (ready !== undefined) note('R', performance.timeOrigin + performance.now() - ready);
    else if (!m) {
      const r = RELOAD.exec(url);
      const partReady = r ? readyAt.get(`${r[1]}.${r[2]}`) : undefined;
      if (partReady !== undefined) note('P', performance.timeOrigin + performance.now() - partReady);
    }
  };
  type Answer = (this: HlsService, method: string, pathname: string, search: string, reply: HlsReply) => boolean;
  const svcProto = HlsService.prototype as unknown as { answer: Answer };
  const origAnswer = svcProto.answer;
  /** The request each front-door reply (a connection: one request at a time) is answering. */
  const answering = new WeakMap<HlsReply, string>();
  const patched = new WeakSet<object>();
  svcProto.answer = function (this: HlsService, method, pathname, search, reply) {
    const proto = Object.getPrototypeOf(reply) as { send: HlsReply['send']; constructor: { name: string } };
    // Node's responses are seen by the ServerResponse wrapper below.
    if (proto.constructor.name !== 'NodeReply' && !patched.has(proto)) {
      patched.add(proto);
      const origSend = proto.send;
      proto.send = function (this: HlsReply, status, head, body, headOnly) {
        origSend.call(this, status, head, body, headOnly);
        const url = answering.get(this);
        if (url !== undefined) written(url, status);
      };
    }
    answering.set(reply, pathname + search);
    return origAnswer.call(this, method, pathname, search, reply);
  };
  const resProto = ServerResponse.prototype as unknown as { end(this: ServerResponse, ...a: unknown[]): ServerResponse };
  const origEnd = resProto.end;
  resProto.end = function (this: ServerResponse, ...a: unknown[]) {
    const r = origEnd.apply(this, a);
    const url = this.req?.url ?? '';
    const m = this.statusCode === 200 ? PART.exec(url) : null;
    const ready = m ? readyAt.get(`${m[1]}.${m[2]}`) : undefined;
    if (!m && this.statusCode === 200) {
      const r = RELOAD.exec(url);
      const partReady = r ? readyAt.get(`${r[1]}.${r[2]}`) : undefined;
      if (partReady !== undefined) note('P', performance.timeOrigin + performance.now() - partReady);
    }
    if (ready !== undefined) {
      const now = performance.timeOrigin + performance.now();
      note('R', now - ready);
      const t = arrived.get(this);
      if (t !== undefined && t.sent > ready) {
        note('C', t.sent - ready);
        note('Q', t.at - t.sent);
        note('S', now - t.at);
      }
    }
    return r;
  };
  type Probed = Segmenter & { __probe?: { current: number | null; previous: number | null; seen: string } };
  const proto = Segmenter.prototype as unknown as { packet(this: Probed, p: MediaPacket): void };
  const origPacket = proto.packet;
  proto.packet = function (this: Probed, p: MediaPacket) {
    let st = this.__probe;
    if (!st) {
      st = this.__probe = { current: null, previous: null, seen: '' };
      const state = st;
      const origChange = this.onChange;
      this.onChange = () => {
        const ready = performance.timeOrigin + performance.now();
        const s = this.segments.at(-1);
        const part = s?.parts.at(-1);
        if (s && part) {
          const key = `${s.msn} ${part.index}`;
          if (key !== state.seen) {
            state.seen = key;
            readyAt.set(`${s.msn}.${part.index}`, ready);
            if (readyAt.size > 100) readyAt.delete(readyAt.keys().next().value!);
            const closing = state.current ?? '';
            const last = state.current !== null ? (state.previous ?? '') : '';
            // The blocked requests woken now are answered in microtasks after this callback; the next
            // check phase comes after them (and after the rest of this poll phase): the fan-out burst.
            setImmediate(() => {
              const burst = performance.timeOrigin + performance.now() - ready;
              writeSync(fd, `${key} ${ready.toFixed(3)} ${closing || '-'} ${last || '-'} ${burst.toFixed(3)}\n`);
            });
          }
        }
        origChange();
      };
    }
    const media = !p.config && p.codec !== 'other' && p.data.length > 0;
    if (media) st.current = p.receivedAt;
    try {
      origPacket.call(this, p);
    } finally {
      if (media) {
        st.previous = st.current;
        st.current = null;
      }
    }
  };
}
