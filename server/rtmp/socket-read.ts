/**
 * Reading an accepted TCP socket into one reused buffer, without net.Socket's Readable machinery.
 *
 * Why: on Node's default read path every read allocates a fresh 64 KiB ArrayBuffer (shrunk to the bytes read), wraps
 * it in a Buffer, and goes through Readable.push -> 'data' -> maybeReadMore (a process.nextTick, so a tick-queue drain
 * with its promise-rejection bookkeeping after every read). ffmpeg sends each RTMP message header and body as
 * separate TCP segments, so one 2.5 Mbit/s publisher means ~165 reads a second, and that per-read cost was most of
 * what our server spent on a publisher with no player (docs/BENCHMARKS.md, "The fixed cost at 100 players").
 *
 * Node has a cheaper path for the same socket class: with `onread: { buffer, callback }` libuv reads straight into
 * the caller's buffer and `callback(nread, buffer)` runs synchronously inside the read event; nothing is allocated
 * and no Readable state is touched. Node 20 documents it only for sockets it creates itself (`net.connect`,
 * `new net.Socket`), not for those a net.Server accepts. What the option does (lib/net.js: the Socket constructor and
 * initSocketHandle; lib/internal/stream_base_commons.js: onStreamRead) is two steps: set the socket's private
 * kBuffer / kBufferCb fields, and call `handle.useUserBuffer(buffer)` before the first read. We take those two steps
 * on a socket accepted with `pauseOnConnect` (so it has not read anything yet), after checking that the internals
 * are exactly what that code expects; if anything differs (another Node version, another kind of handle), the socket
 * is read the normal way, with 'data'. Nothing else about the socket changes: writes, cork, end/close, errors and
 * pause() (which Node's Socket already handles for user-buffer sockets: it stops the handle reading) all work as
 * before, and the accepted socket stays the one object that listeners of the server's 'connection' see.
 *
 * (Wrapping the accepted handle in a second `new net.Socket({ handle, onread })` would use the documented option,
 * but would leave two Socket objects for one connection: the one the server counts and emitted as 'connection', and
 * the one that reads, writes and closes.)
 */
import type net from 'node:net';

/** Size of the shared read buffer: what Node's default path offers libuv per read. */
export const READ_BUFFER_SIZE = 64 * 1024;

/**
 * `data` is one read. When `reused` is true it is a view of the shared read buffer, which the next read (of any
 * connection using that buffer) overwrites: whatever is kept past the call must be copied.
 */
export type OnRead = (data: Buffer, reused: boolean) => void;

export type ReadMode = 'user-buffer' | 'stream';

/** The parts of a libuv TCP handle (Node's internal TCPWrap) this module relies on. */
interface StreamHandle {
  reading: unknown;
  onread: unknown;
  readStart: unknown;
  useUserBuffer: (buffer: Uint8Array) => void;
}

/** The private Socket fields that onStreamRead reads on every read, by their Symbol descriptions. */
const FIELDS = ['kBuffer', 'kBufferCb', 'kBufferGen'] as const;
type FieldKeys = Record<(typeof FIELDS)[number], symbol>;

function fieldKeys(socket: net.Socket): FieldKeys | null {
  const found: Partial<FieldKeys> = {};
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    const d = sym.description as (typeof FIELDS)[number] | undefined;
    if (d !== undefined && (FIELDS as readonly string[]).includes(d)) {
      if (found[d] !== undefined) return null; // two fields of one name: not the layout we know
      found[d] = sym;
    }
  }
  return found.kBuffer && found.kBufferCb && found.kBufferGen ? (found as FieldKeys) : null;
}

/**
 * Makes `socket` read into `buffer` and call `callback(nread, buffer)` per read, as `onread` would have. Returns
 * false, having changed nothing, unless the socket is an unread, paused TCP socket with the internals Node 20 has.
 */
function useUserBuffer(socket: net.Socket, buffer: Buffer, callback: (nread: number, buf: Buffer) => void): boolean {
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  if (handle === null || handle === undefined) return false;
  if (typeof handle.useUserBuffer !== 'function' || typeof handle.readStart !== 'function') return false;
  // Node's reader, whose user-buffer branch we rely on (stream_base_commons.js); any other reader: don't guess.
  if (typeof handle.onread !== 'function' || handle.onread.name !== 'onStreamRead') return false;
  // Accepted with pauseOnConnect and not yet read: the Readable holds nothing, the handle is not reading.
  if (handle.reading !== false || socket.readableFlowing !== false || socket.readableLength !== 0) return false;
  if (socket.destroyed || socket.connecting) return false;
  const keys = fieldKeys(socket);
  if (keys === null) return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  // null is what the constructor sets without `onread`; onStreamRead calls kBufferGen on every read unless it is null.
  if (fields[keys.kBuffer] !== null || fields[keys.kBufferCb] !== null || fields[keys.kBufferGen] !== null) return false;
  fields[keys.kBuffer] = buffer;
  fields[keys.kBufferCb] = callback;
  try {
    // From here the native side reads into `buffer` (it keeps only a pointer: socket[kBuffer] keeps it alive).
    handle.useUserBuffer(buffer);
  } catch {
    fields[keys.kBuffer] = null;
    fields[keys.kBufferCb] = null;
    return false;
  }
  return true;
}

/**
 * Starts reading a socket accepted with `pauseOnConnect: true`: into `buffer` (shared by any number of sockets: each
 * read is handed to `onRead` before the next one happens) when Node's internals allow it, else through 'data'.
 * Returns the path taken.
 */
export function startReading(socket: net.Socket, buffer: Buffer, onRead: OnRead): ReadMode {
  const mode: ReadMode = useUserBuffer(socket, buffer, (nread, buf) => {
    onRead(buf.subarray(0, nread), true);
    // Returning nothing (not false) keeps the handle reading.
  })
    ? 'user-buffer'
    : 'stream';
  // Listened to in both modes: in 'user-buffer' mode Node never pushes into the Readable, so it never fires; if some
  // Node version kept the fields but stopped honouring them, reads would arrive here (as fresh Buffers) instead of
  // being dropped by a flowing stream with no listener.
  socket.on('data', (data: Buffer) => onRead(data, false));
  // With kBuffer set, Socket.resume starts the handle reading itself (tryReadStart); otherwise the Readable does.
  socket.resume();
  return mode;
}
