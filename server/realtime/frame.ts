/**
 * One unmasked binary WebSocket frame (RFC 6455 §5.2: FIN, opcode 2, no mask from a server) around `data`, built once
 * per buffer: the viewers in sync share one write batch (relay/fanout.ts), so they share its frame too and each gets
 * one socket write of the same Buffer, as RTMP players do (the `ws` library would frame it again for every socket).
 */
const frames = new WeakMap<Buffer, Buffer>();

export function binaryFrame(data: Buffer): Buffer {
  const cached = frames.get(data);
  if (cached) return cached;
  const len = data.length;
  const headerLength = len < 126 ? 2 : len < 0x10000 ? 4 : 10;
  const out = Buffer.allocUnsafe(headerLength + len);
  out[0] = 0x82; // FIN + binary
  if (len < 126) out[1] = len;
  else if (len < 0x10000) {
    out[1] = 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  data.copy(out, headerLength);
  frames.set(data, out);
  return out;
}
