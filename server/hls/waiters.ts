/**
 * Blocked requests of one stream (LL-HLS blocking playlist reloads and preload-hinted parts), held
 * without a promise, closure or timer each: a stream with 1000 viewers holds about 2000 of them and
 * answers them all whenever a part is written, five times a second.
 *
 * - Waiters are plain objects in arrays, one array per priority; `wake()` answers every ready one,
 *   priority 0 first (the part requests: what the viewer needs next), each array in arrival order,
 *   without allocating.
 * - One timer per list, armed for the earliest deadline, answers the waiters whose time is up (as
 *   not ready). Deadlines within COALESCE_MS of each other are answered in one sweep, so a sweep is
 *   at most that early and a list of N waiters costs O(N) per sweep, never a timer each.
 * - When the list empties the timer is cleared: nothing is left behind.
 */

export interface Waiting {
  /** performance.now() ms after which the waiter is answered anyway (as not ready). */
  deadline: number;
}

export interface WaitListHooks<W extends Waiting> {
  /** Can `w` be answered now? */
  isReady(w: W): boolean;
  /** Answer `w` (it has already left the list). `ready` is false when its time ran out or the list closed. */
  answer(w: W, ready: boolean): void;
}

/** Deadlines this close are answered in one sweep (so up to this much early). */
export const COALESCE_MS = 5;

export class WaitList<W extends Waiting> {
  private lists: W[][];
  /** Empty arrays to swap in while a list is being answered (so answering never allocates). */
  private spares: W[][];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = Infinity;
  private readonly onTimer = () => this.sweep();

  constructor(
    private readonly hooks: WaitListHooks<W>,
    priorities = 2,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lists = Array.from({ length: priorities }, () => []);
    this.spares = Array.from({ length: priorities }, () => []);
  }

  /** Waiters held. */
  get size(): number {
    let n = 0;
    for (const l of this.lists) n += l.length;
    return n;
  }

  /** Is a timeout timer pending? (For tests: false whenever the list is empty.) */
  get armed(): boolean {
    return this.timer !== null;
  }

  add(w: W, priority: number): void {
    this.lists[priority].push(w);
    if (w.deadline < this.timerAt) this.arm(w.deadline);
  }

  /** Answer every waiter that is ready now. */
  wake(): void {
    this.pass(-Infinity);
  }

  /** Answer every waiter as not ready (the stream is going away). */
  drain(): void {
    this.pass(Infinity);
  }

  /**
   * One pass over every list: ready waiters are answered as ready, those with a deadline up to
   * `expire` as not ready, the rest stay (in order).
   */
  private pass(expire: number): void {
    for (let p = 0; p < this.lists.length; p++) {
      const list = this.lists[p];
      if (list.length === 0) continue;
      // Answers may add waiters (never in practice: new requests come in I/O callbacks): they go to the spare.
      const keep = this.spares[p];
      this.lists[p] = keep;
      for (let i = 0; i < list.length; i++) {
        const w = list[i];
        if (this.hooks.isReady(w)) this.hooks.answer(w, true);
        else if (w.deadline <= expire) this.hooks.answer(w, false);
        else keep.push(w);
      }
      list.length = 0;
      this.spares[p] = list;
    }
    if (this.size === 0) this.disarm();
    else if (expire !== -Infinity) {
      // The timer has fired (or the list is closing): arm it again for the earliest deadline left.
      let next = Infinity;
      for (const l of this.lists) for (const w of l) if (w.deadline < next) next = w.deadline;
      this.arm(next);
    }
  }

  private sweep(): void {
    this.timer = null;
    this.timerAt = Infinity;
    // A timer may fire a little early on the monotonic clock (libuv counts from the loop's cached
    // time): answer what is due within COALESCE_MS, and re-arm for the rest.
    this.pass(this.now() + COALESCE_MS);
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(at - this.now())));
    this.timer.unref?.();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }
}
