// Runs every unit and integration test (`*.test.ts` beside the code) with node's test runner and tsx.
// Extra arguments are file filters: `npm run test:unit -- rtmp` runs the files whose path contains "rtmp".
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOTS = ['server', 'app', 'bench', 'scripts'];

export function findTestFiles(filters = []) {
  const out = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.test\.ts$/.test(name)) out.push(p);
    }
  };
  ROOTS.forEach(walk);
  out.sort();
  return filters.length ? out.filter((f) => filters.some((x) => f.includes(x))) : out;
}

/** Run the files; resolves with { passed, failed, code } read from the runner's own summary. */
export function runNodeTests(files, { extraArgs = [] } = {}) {
  return new Promise((resolve) => {
    const args = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=180000', ...extraArgs, ...files];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    // The runner's summary (`ℹ pass N`, ...) comes before its list of failures, which can be long: the summary lines
    // are picked out as they pass, not looked for at the end.
    const summary = {};
    let partial = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^(?:ℹ|#) (pass|fail|cancelled) (\d+)\s*$/.exec(line);
        if (m) summary[m[1]] = Number(m[2]);
      }
    });
    child.on('close', (code) => {
      const num = (label) => summary[label] ?? 0;
      const failed = num('fail') + num('cancelled');
      const passed = num('pass');
      resolve({ passed, failed: failed || (code !== 0 && passed === 0 ? 1 : failed), code: code ?? 1 });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = findTestFiles(process.argv.slice(2));
  if (files.length === 0) {
    console.error('no test files matched');
    process.exit(1);
  }
  const r = await runNodeTests(files);
  console.log(`${r.passed} passed, ${r.failed} failed`);
  process.exit(r.code === 0 && r.failed === 0 ? 0 : 1);
}
