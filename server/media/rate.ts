/** Bytes and events per second over a sliding window of fixed buckets. */
export class RateMeter {
  private readonly bytes: number[];
  private readonly events: number[];
  private bucketStart = 0;
  private index = 0;

  constructor(
    private readonly bucketMs = 500,
    private readonly buckets = 6,
  ) {
    this.bytes = new Array<number>(buckets).fill(0);
    this.events = new Array<number>(buckets).fill(0);
  }

  private advance(now: number): void {
    if (this.bucketStart === 0) this.bucketStart = now;
    let steps = Math.floor((now - this.bucketStart) / this.bucketMs);
    if (steps <= 0) return;
    this.bucketStart += steps * this.bucketMs;
    if (steps > this.buckets) steps = this.buckets;
    for (let i = 0; i < steps; i++) {
      this.index = (this.index + 1) % this.buckets;
      this.bytes[this.index] = 0;
      this.events[this.index] = 0;
    }
  }

  add(bytes: number, events = 1, now = Date.now()): void {
    this.advance(now);
    this.bytes[this.index] += bytes;
    this.events[this.index] += events;
  }

  /** Rates over the completed buckets of the window (the current, partial one is left out). */
  rates(now = Date.now()): { bytesPerSecond: number; eventsPerSecond: number } {
    this.advance(now);
    let b = 0;
    let e = 0;
    for (let i = 1; i < this.buckets; i++) {
      const k = (this.index + i) % this.buckets;
      b += this.bytes[k];
      e += this.events[k];
    }
    const seconds = ((this.buckets - 1) * this.bucketMs) / 1000;
    return { bytesPerSecond: b / seconds, eventsPerSecond: e / seconds };
  }
}
