/**
 * Blocked LL-HLS requests counted per connection and per client address, over all streams, so that one client cannot
 * fill a stream's wait list (a connection handed to Node's server may pipeline thousands of blocking reloads, each
 * held at once; no byte of their answers is written before the first one's, so Node's own backpressure never bites).
 * Each count is a Map entry only while it is above zero: the maps hold at most as many entries as requests are held.
 */

export class HeldRequests {
  private readonly byConnection = new Map<object, number>();
  private readonly byAddress = new Map<string, number>();
  /** Requests held now, over all streams. */
  total = 0;
  /** Requests refused so far: over a client's limits (429), or a stream's wait list full (503). */
  refusedClient = 0;
  refusedFull = 0;

  constructor(
    private readonly maxPerConnection: number,
    private readonly maxPerAddress: number,
  ) {}

  /** Count one more held request for this connection and address; false (nothing counted) when over a limit. */
  acquire(conn: object, addr: string): boolean {
    const nc = this.byConnection.get(conn) ?? 0;
    const na = this.byAddress.get(addr) ?? 0;
    if (nc >= this.maxPerConnection || na >= this.maxPerAddress) {
      this.refusedClient++;
      return false;
    }
    this.byConnection.set(conn, nc + 1);
    this.byAddress.set(addr, na + 1);
    this.total++;
    return true;
  }

  /** A request `acquire` counted has been answered (the same connection and address). */
  release(conn: object, addr: string): void {
    const nc = (this.byConnection.get(conn) ?? 1) - 1;
    if (nc > 0) this.byConnection.set(conn, nc);
    else this.byConnection.delete(conn);
    const na = (this.byAddress.get(addr) ?? 1) - 1;
    if (na > 0) this.byAddress.set(addr, na);
    else this.byAddress.delete(addr);
    this.total--;
  }

  /** Held requests of one address (for tests). */
  ofAddress(addr: string): number {
    return this.byAddress.get(addr) ?? 0;
  }
}
