// `npm run fuzz`: the RTMP fuzz test (server/rtmp/fuzz.test.ts) with 50 000 mutated sessions.
//   node scripts/fuzz.mjs [cases]
// FUZZ_SEED=<n> replays a run (the seed is printed first); FUZZ_ONLY=<case> replays one case.
// Errors the hub caught from the HLS packager fail the run too (FUZZ_STRICT=0 only reports them).
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const cases = args.find((a) => /^\d+$/.test(a)) ?? process.env.FUZZ_CASES ?? '50000';
const seed = process.env.FUZZ_SEED ?? String(randomInt(0, 2 ** 32 - 1));

console.log(`fuzz: ${cases} cases, seed ${seed} (replay: FUZZ_SEED=${seed} node scripts/fuzz.mjs ${cases})`);
const started = Date.now();
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=7200000', 'server/rtmp/fuzz.test.ts'],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, FUZZ_CASES: cases, FUZZ_SEED: seed },
  },
);
child.on('close', (code, signal) => {
  const secs = Math.round((Date.now() - started) / 1000);
  console.log(`fuzz: ${code === 0 ? 'passed' : 'FAILED'} in ${secs} s (seed ${seed})`);
  process.exit(code ?? (signal ? 1 : 0));
});
