/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for the tests (and anyone checking /metrics):
 * every sample line must parse, belong to a family announced by # HELP and # TYPE, and have a numeric value.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
  /** The value of the sample `name` whose labels include `labels` (undefined: none). */
  get(name: string, labels?: Record<string, string>): number | undefined;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('the exposition does not end with a newline');
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      if (!NAME.test(m[2])) throw new Error(`line ${i + 1}: bad metric name ${m[2]}`);
      if (m[1] === 'HELP') helps.add(m[2]);
      else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3])) throw new Error(`line ${i + 1}: bad type ${m[3]}`);
        if (types.has(m[2])) throw new Error(`line ${i + 1}: second TYPE for ${m[2]}`);
        types.set(m[2], m[3]);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`line ${i + 1}: not a sample: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const inner = m[2].slice(1, -1);
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < inner.length) {
        const at = LABEL.lastIndex;
        const l = LABEL.exec(inner);
        if (!l || l.index !== at) throw new Error(`line ${i + 1}: bad labels ${m[2]}`);
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    }
    // Prometheus reads values with Go's ParseFloat: NaN in any case (prom-client writes "Nan"), +Inf, -Inf.
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : /^nan$/i.test(m[3]) ? NaN : Number(m[3]);
    if (!/^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|[nN][aA][nN])$/.test(m[3])) throw new Error(`line ${i + 1}: bad value ${m[3]}: ${line}`);
    const family = types.has(m[1]) ? m[1] : SUFFIXES.map((s) => (m[1].endsWith(s) ? m[1].slice(0, -s.length) : '')).find((f) => f && types.has(f));
    if (!family) throw new Error(`line ${i + 1}: sample ${m[1]} has no # TYPE`);
    if (!helps.has(family)) throw new Error(`line ${i + 1}: sample ${m[1]} has no # HELP`);
    samples.push({ name: m[1], labels, value });
  }
  return {
    types,
    samples,
    get(name, want = {}) {
      const s = samples.find((x) => x.name === name && Object.entries(want).every(([k, v]) => x.labels[k] === v));
      return s?.value;
    },
  };
}
