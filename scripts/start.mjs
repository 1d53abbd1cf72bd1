// `npm start`: build the pages, then run the server in production, as one supervised unit.
//
// Why not `next build && tsx server/index.ts`: npm runs that line in `sh -c`, and when a supervisor or a container
// runtime sends SIGTERM to npm, npm passes it to the shell only; the shell dies and the server keeps running as an
// orphan with its ports and its ffmpeg children. package.json runs this file with `exec`, so npm's signal reaches
// it, and it passes SIGTERM / SIGINT / SIGHUP on to whatever runs now (the build, or the server, which drains and
// exits 0) and exits with that child's status. The server also gets an IPC channel: if this launcher is killed
// outright, the channel closes and the server drains on its own.
//
// `npm start -- --api-only` skips the build (the server then serves no pages); `--no-build` (what `npm run serve`
// passes) skips it and serves the pages built before; other arguments go to the server.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const noBuild = process.argv.includes('--no-build');
const args = process.argv.slice(2).filter((a) => a !== '--no-build');
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'];

let current = null;
let stopping = null;

for (const sig of SIGNALS) {
  process.on(sig, () => {
    stopping ??= sig;
    if (current && current.exitCode === null && current.signalCode === null) current.kill(sig);
    else process.exit(0);
  });
}

/** Run a child to its end; resolves with { code, signal }. */
function runChild(command, argv, opts) {
  return new Promise((resolve) => {
    const child = spawn(command, argv, { cwd: root, ...opts });
    current = child;
    child.on('error', (err) => {
      process.stderr.write(`start: ${command}: ${err.message}\n`);
      resolve({ code: 1, signal: null });
    });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

function exitLike({ code, signal }) {
  if (signal) process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal] ?? 1));
  process.exit(code ?? 1);
}

if (!noBuild && !args.includes('--api-only')) {
  const require = createRequire(import.meta.url);
  const nextBin = require.resolve('next/dist/bin/next', { paths: [root] });
  const built = await runChild(process.execPath, [nextBin, 'build'], { stdio: 'inherit' });
  if (stopping || built.code !== 0) exitLike(built);
}

const server = await runChild(process.execPath, ['--import', 'tsx', 'server/index.ts', ...args], {
  stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  // glibc raises its mmap threshold after each large free (up to 32 MiB), after which big media
  // buffers come from the heap and stay in RSS as fragments. A fixed threshold keeps buffers of
  // 128 KiB and more in their own mappings, returned to the system when freed.
  env: { MALLOC_MMAP_THRESHOLD_: '131072', ...process.env, NODE_ENV: 'production' },
});
exitLike(server);
