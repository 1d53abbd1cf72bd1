/**
 * One unmasked binary WebSocket frame (RFC 6455 §5.2: FIN, opcode 2, no mask from a server) around `data`, built once
 * per buffer: the viewers in sync share one write batch (relay/fanout.ts), so they share its frame too and each gets
 * one socket write of the same Buffer, as RTMP players do (the `ws` library would frame it again for every socket).
 */
const frames = new WeakMap<Buffer, Buffer>();

export function binaryFrame(data: Buffer): Buffer {
  const cached = frames.get(data);
  if (cached) return cached;
  const out = frame(0x82, data); // FIN + binary
  frames.set(data, out);
  return out;
}

/** One unmasked text frame (FIN, opcode 1) of `text` (the clock messages; not kept: the caller keeps it). */
export function textFrame(text: string): Buffer {
  return frame(0x81, Buffer.from(text, 'utf8'));
}

function frame(first: number, data: Buffer): Buffer {
  const len = data.length;
  const headerLength = len < 126 ? 2 : len < 0x10000 ? 4 : 10;
  const out = Buffer.allocUnsafe(headerLength + len);
  out[0] = first;
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
  return out;
}
