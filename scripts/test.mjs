// `npm test`: system packages, typecheck + lint, production build, unit + integration, e2e.
// Ends with one line `N passed, N failed` summing every suite (typecheck, lint and build count as one each).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { findTestFiles, runNodeTests } from './run-node-tests.mjs';
import { ensureSystemDeps } from './system-deps.mjs';

const totals = { passed: 0, failed: 0 };
const failures = [];

function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('close', (code) => resolve(code ?? 1));
    child.on('error', () => resolve(127));
  });
}

/** Like run, but the output is kept and handed back, so steps running at the same time do not interleave. */
function runQuiet(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    const out = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => out.push(d));
    child.on('close', (code) => resolve({ code: code ?? 1, output: Buffer.concat(out).toString() }));
    child.on('error', (err) => resolve({ code: 127, output: String(err) }));
  });
}

function record(name, passed, failed) {
  totals.passed += passed;
  totals.failed += failed;
  if (failed) failures.push(name);
  console.log(`\n[test] ${name}: ${passed} passed, ${failed} failed\n`);
}

async function step(name, cmd, args, env) {
  console.log(`\n[test] ${name}: ${cmd} ${args.join(' ')}`);
  const code = await run(cmd, args, env);
  record(name, code === 0 ? 1 : 0, code === 0 ? 0 : 1);
  return code === 0;
}

/** Steps that only use the CPU (no sockets, no timing), run at once: each is single-threaded for most of its time. */
async function parallelSteps(steps) {
  const results = await Promise.all(steps.map(([, cmd, args]) => runQuiet(cmd, args)));
  return steps.map(([name, cmd, args], i) => {
    console.log(`\n[test] ${name}: ${cmd} ${args.join(' ')}`);
    process.stdout.write(results[i].output);
    record(name, results[i].code === 0 ? 1 : 0, results[i].code === 0 ? 0 : 1);
    return results[i].code === 0;
  });
}

const started = Date.now();
try {
  await ensureSystemDeps();
} catch (err) {
  console.error(`[test] ${err.message}`);
  record('system packages', 0, 1);
  console.log(`${totals.passed} passed, ${totals.failed} failed`);
  process.exit(1);
}

await parallelSteps([
  ['typecheck', 'npx', ['tsc', '--noEmit']],
  ['lint', 'npx', ['eslint', '.', '--max-warnings=0']],
]);
// The production build (for e2e) runs after typecheck (which would read the route types it writes under .next) and
// before any test that keeps time, as it takes both cores.
const built = await step('build', 'npx', ['next', 'build']);

console.log('\n[test] unit + integration');
// Most files wait on real time (ffmpeg -re, sockets, timers), so two run at once; the hostile suite measures the
// server's memory and its victims' lag under attack, so its files run alone after the others.
const files = findTestFiles();
const alone = files.filter((f) => f.includes(`${path.sep}hostile${path.sep}`));
// The long files (a real server, ffmpeg, browsers) start first, so the short unit files fill the gaps at the end
// instead of one long file running by itself at the tail.
const LONG = /\.integration\.test\.ts$|startTestServer|startServerProcess|publishTestStream|chromium/;
const isLong = new Set(files.filter((f) => LONG.test(f) || LONG.test(readFileSync(f, 'utf8'))));
const slow = (f) => (isLong.has(f) ? 0 : 1);
const together = files.filter((f) => !alone.includes(f)).sort((a, b) => slow(a) - slow(b) || a.localeCompare(b));
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const first = await runNodeTests(together, { extraArgs: [`--test-concurrency=${concurrency}`] });
const second = alone.length ? await runNodeTests(alone, { extraArgs: ['--test-concurrency=1'] }) : { passed: 0, failed: 0 };
record('unit + integration', first.passed + second.passed, first.failed + second.failed);

if (built) {
  const report = 'playwright-report/e2e-report.json';
  rmSync(report, { force: true });
  console.log('\n[test] e2e (Playwright, Chromium)');
  const code = await run('npx', ['playwright', 'test'], { PLAYWRIGHT_JSON_OUTPUT_NAME: report });
  let passed = 0;
  let failed = 0;
  if (existsSync(report)) {
    const stats = JSON.parse(readFileSync(report, 'utf8')).stats ?? {};
    passed = (stats.expected ?? 0) + (stats.flaky ?? 0);
    failed = (stats.unexpected ?? 0) + (stats.skipped ?? 0);
    if (stats.skipped) console.log(`[test] ${stats.skipped} e2e tests were skipped: counted as failed`);
  }
  if (code !== 0 && failed === 0) failed = 1;
  if (passed + failed === 0) failed = 1; // an e2e run that ran nothing is a failure
  record('e2e', passed, failed);
} else {
  record('e2e (not run: build failed)', 0, 1);
}

const secs = Math.round((Date.now() - started) / 1000);
if (failures.length) console.log(`[test] failed suites: ${failures.join(', ')} (${secs}s)`);
else console.log(`[test] all suites green (${secs}s)`);
console.log(`${totals.passed} passed, ${totals.failed} failed`);
process.exit(totals.failed === 0 ? 0 : 1);
