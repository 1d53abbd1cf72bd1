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
 * Cost: a wrapper call per packet and a ~40-byte write per part (5 per second).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { MediaPacket } from '../../server/codec/flv';
import { Segmenter } from '../../server/hls/segmenter';

const file = process.env.HLS_BENCH_PROBE_FILE;
if (file) {
  const fd = openSync(file, 'a');
  process.on('exit', () => closeSync(fd));
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  setInterval(() => {
    const ms = (ns: number) => (ns / 1e6).toFixed(1);
    writeSync(fd, `L ${Date.now()} ${ms(lag.percentile(50))} ${ms(lag.percentile(99))} ${ms(lag.max)}\n`);
    lag.reset();
  }, 1000).unref();
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
