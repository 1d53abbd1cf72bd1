// A streaming scan of MediaRecorder's WebM output, just deep enough to find each block's track and
// timestamp: so the broadcaster knows how old every frame is when MediaRecorder hands it out.

const MASTERS = new Set([0x18538067 /* Segment */, 0x1f43b675 /* Cluster */, 0x1654ae6b /* Tracks */, 0xae /* TrackEntry */, 0x1549a966 /* Info */, 0xa0 /* BlockGroup */]);

function readVint(b, pos, keepMarker) {
  if (pos >= b.length) return null;
  const first = b[pos];
  let len = 1;
  while (len <= 8 && !(first & (0x80 >> (len - 1)))) len++;
  if (len > 8 || pos + len > b.length) return null;
  let value = keepMarker ? first : first & (0xff >> len);
  let allOnes = value === 0xff >> len;
  for (let i = 1; i < len; i++) {
    value = value * 256 + b[pos + i];
    if (b[pos + i] !== 0xff) allOnes = false;
  }
  return { value, len, unknown: !keepMarker && allOnes };
}

function readUint(b, pos, len) {
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 256 + b[pos + i];
  return v;
}

export class WebmTiming {
  constructor() {
    this.buf = new Uint8Array(0);
    this.scaleMs = 1; // TimecodeScale 1e6 ns
    this.clusterTc = 0;
    this.tracks = new Map(); // number -> 'video' | 'audio'
    this.entry = null;
  }

  /** Feed a chunk; returns [{kind, ms}] for the blocks it completed (ms: stream time). */
  push(chunk) {
    const out = [];
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf);
    b.set(chunk, this.buf.length);
    let pos = 0;
    for (;;) {
      const id = readVint(b, pos, true);
      if (!id) break;
      const size = readVint(b, pos + id.len, false);
      if (!size) break;
      const head = id.len + size.len;
      if (MASTERS.has(id.value)) {
        if (id.value === 0xae) this.entry = { num: 0, type: 0 };
        pos += head; // descend: its children follow
        continue;
      }
      if (size.unknown) break; // not expected for leaves
      if (pos + head + size.value > b.length) break; // incomplete: wait for more
      const p = pos + head;
      switch (id.value) {
        case 0x2ad7b1: // TimecodeScale
          this.scaleMs = readUint(b, p, size.value) / 1e6;
          break;
        case 0xd7: // TrackNumber
        case 0x83: // TrackType
          if (this.entry) {
            if (id.value === 0xd7) this.entry.num = readUint(b, p, size.value);
            else this.entry.type = readUint(b, p, size.value);
            if (this.entry.num && this.entry.type) this.tracks.set(this.entry.num, this.entry.type === 1 ? 'video' : this.entry.type === 2 ? 'audio' : 'other');
          }
          break;
        case 0xe7: // Cluster Timecode
          this.clusterTc = readUint(b, p, size.value);
          break;
        case 0xa3: // SimpleBlock
        case 0xa1: {
          // Block
          const track = readVint(b, p, false);
          if (track) {
            let rel = (b[p + track.len] << 8) | b[p + track.len + 1];
            if (rel & 0x8000) rel -= 0x10000;
            out.push({ kind: this.tracks.get(track.value) ?? 'other', ms: (this.clusterTc + rel) * this.scaleMs });
          }
          break;
        }
        default:
          break;
      }
      pos += head + size.value;
    }
    this.buf = b.slice(pos);
    return out;
  }
}
