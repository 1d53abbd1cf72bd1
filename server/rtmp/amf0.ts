/**
 * AMF0 encoder/decoder (Adobe "Action Message Format -- AMF 0" specification).
 *
 * Pure functions: bytes in, values out. Every malformed input throws
 * RtmpProtocolError; all reads are bounds-checked before they happen.
 */
import { RtmpProtocolError } from './errors';

export type Amf0Value =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | Amf0Value[]
  | Amf0Object
  | Amf0EcmaArray;

export interface Amf0Object {
  [key: string]: Amf0Value;
}

/** Wrapper that makes the encoder emit an ECMA array (marker 0x08) instead of an object. */
export class Amf0EcmaArray {
  constructor(public entries: Record<string, Amf0Value> = {}) {}
}

export interface Amf0Command {
  name: string;
  transactionId: number;
  commandObject: Amf0Value;
  args: Amf0Value[];
}

/** Maximum nesting of objects/arrays, for both decoding and encoding. */
export const AMF0_MAX_DEPTH = 64;

/**
 * Default bound of a decoded message's expanded size: its bytes plus, for each reference (0x07), the size of what it
 * points to, as if the reference had been written out. References make a DAG: ~440 bytes of nested references expand
 * to 29 MB when the value is encoded again (for a player), and every two more levels multiply that by 4.
 */
export const AMF0_DEFAULT_MAX_EXPANDED_BYTES = 1024 * 1024;

/** The message is well-formed, but its references expand it past `maxExpandedBytes`. */
export class Amf0TooLarge extends RtmpProtocolError {
  override name = 'Amf0TooLarge';
}

export interface Amf0DecodeOptions {
  /** Refuse (RtmpProtocolError) a message whose expanded size exceeds this (default 1 MiB). */
  maxExpandedBytes?: number;
}

const enum Marker {
  Number = 0x00,
  Boolean = 0x01,
  String = 0x02,
  Object = 0x03,
  MovieClip = 0x04,
  Null = 0x05,
  Undefined = 0x06,
  Reference = 0x07,
  EcmaArray = 0x08,
  ObjectEnd = 0x09,
  StrictArray = 0x0a,
  Date = 0x0b,
  LongString = 0x0c,
  Unsupported = 0x0d,
  RecordSet = 0x0e,
  XmlDocument = 0x0f,
  TypedObject = 0x10,
  AvmPlus = 0x11,
}

/** Assigns a property without ever touching the prototype (`__proto__` keys from the wire). */
function setProp(obj: Amf0Object, key: string, value: Amf0Value): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

class Amf0Decoder {
  pos = 0;
  private depth = 0;
  /** Complex values (objects, typed objects, ECMA arrays, strict arrays) in order of appearance. */
  private readonly refs: (Amf0Object | Amf0Value[])[] = [];
  /**
   * Expanded size of each complex value of `refs` (its bytes, plus what the references inside it expand to), known
   * when it is complete: -1 while it is being read (a reference to it then would make a cycle).
   */
  private readonly refSizes: number[] = [];
  /** What references read so far add to the message's size when expanded. */
  private extra = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly maxExpanded: number,
  ) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  private need(n: number, what: string): void {
    if (this.buf.length - this.pos < n) {
      throw new RtmpProtocolError(`AMF0: truncated ${what} at offset ${this.pos}`);
    }
  }

  private u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }

  private u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  private u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  private f64(what: string): number {
    this.need(8, what);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  private utf8(len: number, what: string): string {
    this.need(len, what);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  private enter(): void {
    if (++this.depth > AMF0_MAX_DEPTH) {
      throw new RtmpProtocolError(`AMF0: nesting deeper than ${AMF0_MAX_DEPTH}`);
    }
  }

  private leave(): void {
    this.depth--;
  }

  /** Reads `key, value` pairs until an empty key followed by the object-end marker. */
  private readProperties(obj: Amf0Object): void {
    for (;;) {
      const keyLen = this.u16('property name length');
      if (keyLen === 0) {
        this.need(1, 'object end marker');
        if (this.buf[this.pos] === Marker.ObjectEnd) {
          this.pos++;
          return;
        }
        // An empty key not followed by 0x09 is a property literally named "".
      }
      const key = this.utf8(keyLen, 'property name');
      setProp(obj, key, this.readValue());
    }
  }

  /** Registers a complex value that starts at `start` (its marker); returns its index for `complete`. */
  private begin(v: Amf0Object | Amf0Value[]): number {
    this.enter();
    this.refs.push(v);
    this.refSizes.push(-1);
    return this.refs.length - 1;
  }

  private complete(idx: number, start: number, extraBefore: number): void {
    this.refSizes[idx] = this.pos - start + (this.extra - extraBefore);
    this.leave();
  }

  private readObjectBody(start: number): Amf0Object {
    const extraBefore = this.extra;
    const obj: Amf0Object = {};
    const idx = this.begin(obj);
    this.readProperties(obj);
    this.complete(idx, start, extraBefore);
    return obj;
  }

  readValue(): Amf0Value {
    const start = this.pos;
    const marker = this.u8('type marker');
    switch (marker) {
      case Marker.Number:
        return this.f64('number');
      case Marker.Boolean:
        return this.u8('boolean') !== 0;
      case Marker.String:
        return this.utf8(this.u16('string length'), 'string');
      case Marker.Object:
        return this.readObjectBody(start);
      case Marker.Null:
        return null;
      case Marker.Undefined:
      case Marker.Unsupported:
        return undefined;
      case Marker.Reference: {
        const idx = this.u16('reference');
        if (idx >= this.refs.length) {
          throw new RtmpProtocolError(`AMF0: reference ${idx} to unknown object`);
        }
        const size = this.refSizes[idx];
        if (size < 0) throw new RtmpProtocolError(`AMF0: reference ${idx} to an enclosing object (a cycle)`);
        // The 3 bytes of the reference are replaced by the value's own.
        this.extra += size - 3;
        if (this.buf.length + this.extra > this.maxExpanded) {
          throw new Amf0TooLarge(`AMF0: references expand the message past ${this.maxExpanded} bytes`);
        }
        return this.refs[idx];
      }
      case Marker.EcmaArray:
        this.u32('ECMA array count'); // advisory only; read until object end
        return this.readObjectBody(start);
      case Marker.StrictArray: {
        const count = this.u32('strict array count');
        // Every value takes at least one byte: reject impossible counts up front.
        this.need(count, 'strict array');
        const extraBefore = this.extra;
        const arr: Amf0Value[] = [];
        const idx = this.begin(arr);
        for (let i = 0; i < count; i++) arr.push(this.readValue());
        this.complete(idx, start, extraBefore);
        return arr;
      }
      case Marker.Date: {
        const ms = this.f64('date');
        this.u16('date time zone'); // reserved, ignored
        return new Date(ms);
      }
      case Marker.LongString:
      case Marker.XmlDocument:
        return this.utf8(this.u32('long string length'), 'long string');
      case Marker.TypedObject:
        this.utf8(this.u16('class name length'), 'class name'); // class name is dropped
        return this.readObjectBody(start);
      case Marker.AvmPlus:
        return this.readSimpleAmf3();
      default:
        throw new RtmpProtocolError(`AMF0: unsupported type marker 0x${marker.toString(16)} at offset ${this.pos - 1}`);
    }
  }

  /** AMF3 U29 variable-length integer (1..4 bytes). */
  private u29(): number {
    let v = 0;
    for (let i = 0; i < 3; i++) {
      const b = this.u8('AMF3 integer');
      v = (v << 7) | (b & 0x7f);
      if ((b & 0x80) === 0) return v;
    }
    return ((v << 8) | this.u8('AMF3 integer')) >>> 0;
  }

  /** The value after an AVM+ switch marker; only simple AMF3 values are supported. */
  private readSimpleAmf3(): Amf0Value {
    const m = this.u8('AMF3 marker');
    switch (m) {
      case 0x00:
        return undefined;
      case 0x01:
        return null;
      case 0x02:
        return false;
      case 0x03:
        return true;
      case 0x04: {
        const v = this.u29();
        return v & 0x10000000 ? v - 0x20000000 : v; // 29-bit signed
      }
      case 0x05:
        return this.f64('AMF3 double');
      case 0x06: {
        const h = this.u29();
        if ((h & 1) === 0) throw new RtmpProtocolError('AMF3: string references are not supported');
        return this.utf8(h >>> 1, 'AMF3 string');
      }
      default:
        throw new RtmpProtocolError(`AMF3: unsupported value marker 0x${m.toString(16)}`);
    }
  }
}

/**
 * Decodes every AMF0 value in `buf`, in order. References (0x07) to earlier complex values are kept as shared
 * objects, within `maxExpandedBytes` of expanded size; a reference to an object still being read (a cycle) throws.
 */
export function decodeAmf0(buf: Buffer, opts: Amf0DecodeOptions = {}): Amf0Value[] {
  const d = new Amf0Decoder(buf, opts.maxExpandedBytes ?? AMF0_DEFAULT_MAX_EXPANDED_BYTES);
  const out: Amf0Value[] = [];
  while (!d.done) out.push(d.readValue());
  return out;
}

/**
 * Decodes a command message body: name, transaction id, command object, args.
 * A missing transaction id reads as 0 and a missing command object as null.
 */
export function decodeAmf0Command(buf: Buffer, opts: Amf0DecodeOptions = {}): Amf0Command {
  const values = decodeAmf0(buf, opts);
  const name = values[0];
  if (typeof name !== 'string') throw new RtmpProtocolError('AMF0 command: name is not a string');
  const tid = values.length > 1 ? values[1] : 0;
  if (typeof tid !== 'number') throw new RtmpProtocolError('AMF0 command: transaction id is not a number');
  return {
    name,
    transactionId: tid,
    commandObject: values.length > 2 ? values[2] : null,
    args: values.slice(3),
  };
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

class Amf0Writer {
  buf: Buffer;
  pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** Writes UTF-8 bytes of a string whose byte length is already known. */
  utf8(s: string, byteLen: number): void {
    this.ensure(byteLen);
    this.buf.write(s, this.pos, byteLen, 'utf8');
    this.pos += byteLen;
  }

  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function writeProperties(w: Amf0Writer, obj: Record<string, Amf0Value>, depth: number): void {
  for (const key of Object.keys(obj)) {
    const len = Buffer.byteLength(key, 'utf8');
    if (len > 0xffff) throw new RtmpProtocolError('AMF0: property name longer than 65535 bytes');
    w.u16(len);
    w.utf8(key, len);
    writeValue(w, obj[key], depth);
  }
  w.u16(0);
  w.u8(Marker.ObjectEnd);
}

function writeValue(w: Amf0Writer, v: Amf0Value, depth: number): void {
  switch (typeof v) {
    case 'number':
      w.u8(Marker.Number);
      w.f64(v);
      return;
    case 'boolean':
      w.u8(Marker.Boolean);
      w.u8(v ? 1 : 0);
      return;
    case 'string': {
      const len = Buffer.byteLength(v, 'utf8');
      if (len <= 0xffff) {
        w.u8(Marker.String);
        w.u16(len);
      } else {
        if (len > 0xffffffff) throw new RtmpProtocolError('AMF0: string too long');
        w.u8(Marker.LongString);
        w.u32(len);
      }
      w.utf8(v, len);
      return;
    }
    case 'undefined':
      w.u8(Marker.Undefined);
      return;
    case 'object':
      break;
    default:
      throw new RtmpProtocolError(`AMF0: cannot encode a value of type ${typeof v}`);
  }
  if (v === null) {
    w.u8(Marker.Null);
    return;
  }
  if (v instanceof Date) {
    w.u8(Marker.Date);
    w.f64(v.getTime());
    w.u16(0);
    return;
  }
  if (depth >= AMF0_MAX_DEPTH) {
    throw new RtmpProtocolError(`AMF0: nesting deeper than ${AMF0_MAX_DEPTH} (cyclic value?)`);
  }
  if (Array.isArray(v)) {
    w.u8(Marker.StrictArray);
    w.u32(v.length);
    for (let i = 0; i < v.length; i++) writeValue(w, v[i], depth + 1);
    return;
  }
  if (v instanceof Amf0EcmaArray) {
    w.u8(Marker.EcmaArray);
    w.u32(Object.keys(v.entries).length);
    writeProperties(w, v.entries, depth + 1);
    return;
  }
  w.u8(Marker.Object);
  writeProperties(w, v, depth + 1);
}

/** Encodes the values back to back. */
export function encodeAmf0(...values: Amf0Value[]): Buffer {
  const w = new Amf0Writer();
  for (const v of values) writeValue(w, v, 0);
  return w.result();
}
