/**
 * Reading a V8 .cpuprofile (from `node --cpu-prof`), shared by bench/hls/profile-summary.ts and
 * bench/ingest/profile.ts: the node graph with parent links, and one label per function.
 */
import { readFileSync } from 'node:fs';

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The profile in `file`, its nodes by id and each node's parent id. */
export function loadProfile(file: string): { p: Profile; byId: Map<number, ProfileNode>; parent: Map<number, number> } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  return { p, byId, parent };
}

/** `name path:line`, the path from server/, bench/ or node_modules/ on; `(anonymous)` for no name. */
export function frameLabel(f: ProfileNode['callFrame']): string {
  const file = f.url ? f.url.replace(/^file:\/\//, '').replace(/^.*\/(server|bench|node_modules)\//, '$1/') : '';
  return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
}
