/**
 * TRUST_PROXY: which TCP peers are proxies whose X-Forwarded-For we believe, and the client address that follows.
 *
 * A request from an untrusted peer is that peer's: its X-Forwarded-For is ignored (anyone can send one). From a
 * trusted peer, the client is the right-most address in X-Forwarded-For that is not itself a trusted proxy (each
 * proxy appends the address it saw; only entries right of the first untrusted one were written by our proxies).
 * A malformed entry stops the walk: the address of the proxy that wrote it stands (the hop to its right, or the peer).
 *
 * Spec: a comma-separated list of IPv4/IPv6 addresses, CIDR blocks (`10.0.0.0/8`, `fd00::/8`) and the names
 * `loopback` (127.0.0.0/8, ::1) and `private` (10/8, 172.16/12, 192.168/16, fc00::/7). Empty: trust none.
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';

/** Most X-Forwarded-For entries looked at, from the right (a proxy chain longer than this is not ours). */
export const MAX_HOPS = 16;
/** Longest X-Forwarded-For value looked at (its right end). */
export const MAX_XFF_CHARS = 2048;

const NAMED: Record<string, Array<[string, number, 'ipv4' | 'ipv6']>> = {
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  private: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['fc00::', 7, 'ipv6'],
  ],
};

/** An address as a bare IP: IPv4-mapped IPv6 as IPv4, brackets, ports and zones gone; '' if it is none. */
export function normalizeAddress(raw: string): string {
  let a = raw.trim();
  if (a.startsWith('[')) {
    const close = a.indexOf(']');
    if (close < 0) return '';
    a = a.slice(1, close);
  } else if (a.indexOf(':') > 0 && a.indexOf(':') === a.lastIndexOf(':') && a.includes('.')) {
    a = a.slice(0, a.indexOf(':')); // 203.0.113.5:4711
  }
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  if (a.toLowerCase().startsWith('::ffff:') && a.includes('.')) a = a.slice(7);
  return net.isIP(a) ? a : '';
}

export class TrustProxy {
  private readonly list = new net.BlockList();

  private constructor(readonly entries: readonly string[]) {}

  /** Parse a TRUST_PROXY value; throws with the offending entry. */
  static parse(spec: string | undefined): TrustProxy {
    const entries = (spec ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const t = new TrustProxy(entries);
    for (const e of entries) {
      const named = NAMED[e.toLowerCase()];
      if (named) {
        for (const [addr, prefix, type] of named) t.list.addSubnet(addr, prefix, type);
        continue;
      }
      const slash = e.indexOf('/');
      const addr = slash < 0 ? e : e.slice(0, slash);
      const type = net.isIP(addr) === 4 ? 'ipv4' : net.isIP(addr) === 6 ? 'ipv6' : null;
      if (!type) throw new Error(`${JSON.stringify(e)} is not an address, a CIDR block, "loopback" or "private"`);
      if (slash < 0) {
        t.list.addAddress(addr, type);
        continue;
      }
      const bits = e.slice(slash + 1);
      const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
      if (!(prefix >= 0 && prefix <= (type === 'ipv4' ? 32 : 128))) throw new Error(`${JSON.stringify(e)}: bad prefix length`);
      t.list.addSubnet(addr, prefix, type);
    }
    return t;
  }

  /** Trusts nobody: every client is its TCP peer. */
  get none(): boolean {
    return this.entries.length === 0;
  }

  /** Is this peer (any address form) a trusted proxy? */
  trusts(address: string | undefined): boolean {
    if (this.none || !address) return false;
    const a = normalizeAddress(address);
    if (!a) return false;
    return this.list.check(a, net.isIP(a) === 4 ? 'ipv4' : 'ipv6');
  }

  /** The client's address for a request from `peer` carrying this X-Forwarded-For (joined if sent more than once). */
  client(peer: string | undefined, forwardedFor: string | undefined): string {
    const own = peer ? normalizeAddress(peer) || peer : '';
    if (!forwardedFor || !this.trusts(own)) return own;
    const value = forwardedFor.length > MAX_XFF_CHARS ? forwardedFor.slice(-MAX_XFF_CHARS) : forwardedFor;
    let client = own;
    let end = value.length;
    for (let hop = 0; hop < MAX_HOPS && end > 0; hop++) {
      const comma = value.lastIndexOf(',', end - 1);
      const entry = normalizeAddress(value.slice(comma + 1, end));
      // A cut-off first entry (MAX_XFF_CHARS) is as good as a malformed one: it stops the walk.
      if (!entry || (comma < 0 && value !== forwardedFor)) return client;
      client = entry;
      if (!this.trusts(entry)) return entry;
      end = comma < 0 ? 0 : comma;
    }
    return client;
  }
}

const tagged = new WeakMap<IncomingMessage, string>();

/** Resolve and remember a request's client address (app.ts, as each request or upgrade arrives). */
export function tagClient(req: IncomingMessage, trust: TrustProxy): void {
  if (trust.none) return;
  const xff = req.headers['x-forwarded-for'];
  tagged.set(req, trust.client(req.socket.remoteAddress, Array.isArray(xff) ? xff.join(',') : xff));
}

/** A request's client address: as tagged (TRUST_PROXY), else its TCP peer's. */
export function clientAddress(req: IncomingMessage): string {
  return tagged.get(req) ?? req.socket.remoteAddress ?? '';
}
