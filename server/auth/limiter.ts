/**
 * Per-address limits, each bounded in memory (the oldest entry goes when a map is full, so a flood of addresses
 * costs a fixed amount).
 *
 * - FailureLimiter: wrong credentials. The first few failures are free; after that each failure doubles the wait
 *   before the next attempt is heard (1 s, 2 s, 4 s … up to a cap). A success or a quiet period forgets the address.
 * - RateLimiter: a token bucket per address (stream creation in BROADCAST_AUTH=open).
 */
import type { IncomingMessage } from 'node:http';
import { clientAddress } from '../http/trust-proxy';

export type Verdict = { ok: true } | { ok: false; retryAfterSeconds: number };

/** The client's address as a limit key: IPv4 as is, IPv6 by its /64 (one subscriber's whole prefix). */
export function addressKey(address: string | undefined): string {
  if (!address) return '?';
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (!address.includes(':')) return address;
  const groups = expandIpv6(address);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : address;
}

export function requestAddress(req: IncomingMessage): string {
  return addressKey(clientAddress(req));
}

function expandIpv6(a: string): string[] | null {
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const halves = a.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  return [...head, ...Array<string>(fill).fill('0'), ...tail].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
}

interface Failures {
  count: number;
  last: number;
  blockedUntil: number;
}

export interface FailureLimiterOptions {
  /** Failures heard without delay. */
  free?: number;
  /** Longest wait, ms. */
  maxDelayMs?: number;
  /** An address quiet this long is forgotten, ms. */
  forgetMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export class FailureLimiter {
  private readonly entries = new Map<string, Failures>();
  private readonly free: number;
  private readonly maxDelayMs: number;
  private readonly forgetMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(opts: FailureLimiterOptions = {}) {
    this.free = opts.free ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 5 * 60_000;
    this.forgetMs = opts.forgetMs ?? 15 * 60_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** May this address try now? */
  check(key: string): Verdict {
    const e = this.entries.get(key);
    if (!e) return { ok: true };
    const now = this.now();
    if (now - e.last > this.forgetMs) {
      this.entries.delete(key);
      return { ok: true };
    }
    if (now < e.blockedUntil) return { ok: false, retryAfterSeconds: Math.ceil((e.blockedUntil - now) / 1000) };
    return { ok: true };
  }

  /** It failed: count it, and set the wait before its next try. */
  fail(key: string): void {
    const now = this.now();
    let e = this.entries.get(key);
    if (e && now - e.last > this.forgetMs) e = undefined;
    if (!e) {
      e = { count: 0, last: now, blockedUntil: 0 };
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    } else {
      this.entries.delete(key); // re-insert: the map's order is the order of last failure
    }
    e.count++;
    e.last = now;
    const over = e.count - this.free;
    if (over > 0) e.blockedUntil = now + Math.min(this.maxDelayMs, 1000 * 2 ** Math.min(over - 1, 30));
    this.entries.set(key, e);
  }

  succeed(key: string): void {
    this.entries.delete(key);
  }
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(
    /** Burst size. */
    private readonly capacity: number,
    /** Tokens added per minute. */
    private readonly perMinute: number,
    opts: { maxEntries?: number; now?: () => number } = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Take one token for this address, or say how long until there is one. */
  take(key: string): Verdict {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b) {
      b.tokens = Math.min(this.capacity, b.tokens + ((now - b.at) * this.perMinute) / 60_000);
      b.at = now;
      this.buckets.delete(key);
    } else {
      if (this.buckets.size >= this.maxEntries) this.buckets.delete(this.buckets.keys().next().value as string);
      b = { tokens: this.capacity, at: now };
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(((1 - b.tokens) * 60_000) / this.perMinute / 1000)) };
  }
}
