/**
 * HTTP Range (RFC 9110 14): one `bytes=` range of a resource of `size` bytes. Several ranges, a range that starts
 * past the end, and a malformed `bytes=` value are refused (416 with `Content-Range: bytes * /size`); another unit is
 * ignored (the whole resource, 200), as the RFC says.
 */
export type RangeResult = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

const MAX_HEADER = 200;

export function parseRange(header: string | string[] | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  if (Array.isArray(header) || header.length > MAX_HEADER) return { kind: 'unsatisfiable' };
  const h = header.trim();
  const eq = h.indexOf('=');
  if (eq < 0) return { kind: 'unsatisfiable' };
  const unit = h.slice(0, eq).trim().toLowerCase();
  if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(unit)) return { kind: 'unsatisfiable' };
  if (unit !== 'bytes') return { kind: 'full' };
  const spec = h.slice(eq + 1).trim();
  const m = /^(\d{0,16})-(\d{0,16})$/.exec(spec);
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'unsatisfiable' };
  if (m[1] === '') {
    // The last n bytes.
    const n = Number(m[2]);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}
