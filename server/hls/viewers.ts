/**
 * The HLS viewers of one stream: distinct clients (address and User-Agent) that fetched its playlist within a window.
 *
 * A client chooses its User-Agent, so it could mint a new viewer with every request: each address gets at most
 * `perAddress` entries (a household or an office behind one NAT fits; more clients there are not counted), and the
 * whole set at most `max` (the oldest goes first). Entries are kept in the order they were last seen (a Map is
 * ordered by insertion: a viewer seen again is moved to the end), so the expired ones are always at the front and
 * each request costs O(1), amortised: no scan of the set.
 */

interface Entry {
  at: number;
  address: string;
}

export class ViewerSet {
  private readonly seen = new Map<string, Entry>();
  private readonly perAddressCount = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly perAddress: number,
    private readonly max: number,
  ) {}

  /** A playlist request from `address`, as the viewer `key` (address and User-Agent), at `now` (ms). */
  note(address: string, key: string, now: number): void {
    const e = this.seen.get(key);
    if (e) {
      e.at = now;
      this.seen.delete(key);
      this.seen.set(key, e);
      return;
    }
    this.expire(now);
    const n = this.perAddressCount.get(address) ?? 0;
    if (n >= this.perAddress) return;
    if (this.seen.size >= this.max) this.dropOldest();
    this.seen.set(key, { at: now, address });
    this.perAddressCount.set(address, n + 1);
  }

  /** Viewers seen within the window before `now`. */
  count(now: number): number {
    this.expire(now);
    return this.seen.size;
  }

  /** Entries held (for tests). */
  get size(): number {
    return this.seen.size;
  }

  private expire(now: number): void {
    for (const [key, e] of this.seen) {
      if (now - e.at <= this.windowMs) return;
      this.remove(key, e);
    }
  }

  private dropOldest(): void {
    for (const [key, e] of this.seen) {
      this.remove(key, e);
      return;
    }
  }

  private remove(key: string, e: Entry): void {
    this.seen.delete(key);
    const n = (this.perAddressCount.get(e.address) ?? 1) - 1;
    if (n > 0) this.perAddressCount.set(e.address, n);
    else this.perAddressCount.delete(e.address);
  }
}
