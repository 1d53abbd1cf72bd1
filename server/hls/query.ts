/**
 * The LL-HLS delivery directives of a playlist request (`_HLS_msn`, `_HLS_part`, `_HLS_skip`), read
 * straight from the URL's query string: no URLSearchParams per request on the hot path (thousands of
 * blocking reloads a second). Queries with `%` or `+` (never sent by players) take the exact
 * form-decoding path, so the result is the same either way.
 */

export interface HlsQuery {
  /** `_HLS_msn`, or null when absent. */
  msn: number | null;
  /** `_HLS_part`, or null when absent. */
  part: number | null;
  /** `_HLS_skip=YES` or `v2`: a delta playlist. */
  skip: boolean;
}

/** Longest number accepted: 12 digits (still exact as a double). */
const MAX_DIGITS = 12;

/** A whole number of 1 to 12 ASCII digits, or -1. */
function digits(s: string, from: number, to: number): number {
  const n = to - from;
  if (n < 1 || n > MAX_DIGITS) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

const NONE: HlsQuery = Object.freeze({ msn: null, part: null, skip: false }) as HlsQuery;

/**
 * Parse the directives from `search` (`''` or `'?a=b&...'`, as URL#search gives it). Returns null for
 * a bad request (400): `_HLS_msn` or `_HLS_part` that is not 1–12 digits, given twice, or
 * `_HLS_part` without `_HLS_msn`. Other parameters are ignored; for `_HLS_skip` the first one counts.
 */
export function parseHlsQuery(search: string): HlsQuery | null {
  if (search.length <= 1) return NONE;
  if (search.includes('%') || search.includes('+')) return parseSlow(search);
  let msn: number | null = null;
  let part: number | null = null;
  let skip: boolean | null = null;
  const end = search.length;
  let i = search.charCodeAt(0) === 63 /* ? */ ? 1 : 0;
  while (i < end) {
    let amp = search.indexOf('&', i);
    if (amp < 0) amp = end;
    // Only pieces that start with "_HLS_" can matter.
    if (amp - i > 5 && search.startsWith('_HLS_', i)) {
      let eq = search.indexOf('=', i);
      if (eq < 0 || eq > amp) eq = amp;
      const name = search.slice(i + 5, eq);
      const v = eq < amp ? eq + 1 : amp;
      if (name === 'msn') {
        if (msn !== null) return null;
        msn = digits(search, v, amp);
        if (msn < 0) return null;
      } else if (name === 'part') {
        if (part !== null) return null;
        part = digits(search, v, amp);
        if (part < 0) return null;
      } else if (name === 'skip' && skip === null) {
        const value = search.slice(v, amp);
        skip = value === 'YES' || value === 'v2';
      }
    }
    i = amp + 1;
  }
  if (part !== null && msn === null) return null;
  if (msn === null && skip === null) return NONE;
  return { msn, part, skip: skip ?? false };
}

/** The exact path: application/x-www-form-urlencoded decoding, same rules. */
function parseSlow(search: string): HlsQuery | null {
  const q = new URLSearchParams(search);
  const one = (name: string): number | null | undefined => {
    const all = q.getAll(name);
    if (all.length === 0) return null;
    if (all.length > 1) return undefined;
    const v = digits(all[0], 0, all[0].length);
    return v < 0 ? undefined : v;
  };
  const msn = one('_HLS_msn');
  const part = one('_HLS_part');
  if (msn === undefined || part === undefined || (part !== null && msn === null)) return null;
  const skipRaw = q.get('_HLS_skip');
  return { msn, part, skip: skipRaw === 'YES' || skipRaw === 'v2' };
}
