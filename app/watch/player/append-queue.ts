/**
 * One SourceBuffer's operations in order, never while it is updating (MSE: appendBuffer/remove/changeType throw
 * InvalidStateError then). Bounded: past `maxBytes` waiting, `onOverflow` is called (the player gives up on this
 * buffer) rather than growing without end, e.g. in a background tab whose decoder is throttled.
 */

export type Op = { append: Uint8Array } | { remove: [number, number] } | { changeType: string };

export interface BufferLike {
  readonly updating: boolean;
  appendBuffer(data: BufferSource): void;
  remove(start: number, end: number): void;
  changeType?(type: string): void;
  addEventListener(type: 'updateend' | 'error', fn: () => void): void;
  removeEventListener(type: 'updateend' | 'error', fn: () => void): void;
}

export class AppendQueue {
  private readonly ops: Op[] = [];
  private bytes = 0;
  private closed = false;
  private readonly next = () => this.run();

  constructor(
    private readonly sb: BufferLike,
    private readonly opts: { maxBytes: number; onOverflow: () => void; onError: (e: unknown) => void; onAppended?: () => void },
  ) {
    sb.addEventListener('updateend', this.next);
  }

  /** Bytes waiting to be appended. */
  get waiting(): number {
    return this.bytes;
  }

  push(op: Op): void {
    if (this.closed) return;
    if ('append' in op) {
      this.bytes += op.append.byteLength;
      if (this.bytes > this.opts.maxBytes) {
        this.close();
        this.opts.onOverflow();
        return;
      }
    }
    // A remove while removes are waiting: one is enough (the newest covers the others).
    if ('remove' in op && this.ops.some((o) => 'remove' in o)) return;
    this.ops.push(op);
    this.run();
  }

  close(): void {
    this.closed = true;
    this.ops.length = 0;
    this.bytes = 0;
    this.sb.removeEventListener('updateend', this.next);
  }

  private run(): void {
    if (this.closed || this.sb.updating) return;
    const op = this.ops.shift();
    if (!op) return;
    try {
      if ('append' in op) {
        this.bytes -= op.append.byteLength;
        this.sb.appendBuffer(op.append as Uint8Array<ArrayBuffer>);
        this.opts.onAppended?.();
      } else if ('remove' in op) {
        if (op.remove[1] > op.remove[0]) this.sb.remove(op.remove[0], op.remove[1]);
        else this.run();
      } else {
        this.sb.changeType?.(op.changeType);
        this.run();
      }
    } catch (e) {
      this.close();
      this.opts.onError(e);
    }
  }
}
