/**
 * The shipped LL-HLS cache (docs/deploy/nginx-cache.conf) in a real nginx, for tests and benchmarks: the very file
 * with its placeholders filled in (a loopback port, the origin, a cache directory and prefix in a temporary
 * directory), nginx run in the foreground and stopped by its PID (SIGTERM to the master, which stops its workers).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type Proc } from './harness';
import { NGINX_BIN } from './nginx';
import { freePort } from './sockets';

const CONF = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/deploy/nginx-cache.conf');

export interface NginxCache {
  /** http://127.0.0.1:<port> of the cache. */
  base: string;
  dir: string;
  proc: Proc;
  /** utime + stime of the master and its workers, seconds (benchmarks). */
  cpuSeconds(): number;
  /** The tail of nginx's error log and stderr. */
  errors(): string;
  /** `nginx -t` on the same files: its exit code and output. */
  check(): Promise<{ code: number | string; output: string }>;
  stop(): Promise<void>;
}

function procSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime (fields 14, 15) in clock ticks (100/s)
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(f.slice(f.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

export async function startNginxCache(originPort: number, originHost = '127.0.0.1'): Promise<NginxCache> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-nginx-cache-'));
  await chmod(dir, 0o777); // the workers run as nobody when we are root: they write the cache and temp files here
  const port = await freePort();
  const conf = (await readFile(CONF, 'utf8'))
    .replaceAll('{{LISTEN}}', `127.0.0.1:${port}`)
    .replaceAll('{{ORIGIN}}', `${originHost}:${originPort}`)
    .replaceAll('{{CACHE_DIR}}', path.join(dir, 'cache'))
    .replaceAll('{{PREFIX}}', dir);
  if (conf.includes('{{')) throw new Error('a placeholder of nginx-cache.conf was not replaced');
  const confFile = path.join(dir, 'nginx.conf');
  await writeFile(confFile, conf);
  const args = ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', confFile];
  const proc = run(NGINX_BIN, [...args, '-g', 'daemon off;']);
  const pid = proc.child.pid!;
  let workers: number[] = [];
  return {
    base: `http://127.0.0.1:${port}`,
    dir,
    proc,
    cpuSeconds() {
      if (workers.length === 0) workers = childrenOf(pid);
      return procSeconds(pid) + workers.reduce((n, w) => n + procSeconds(w), 0);
    },
    errors() {
      let log = '';
      try {
        log = readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2000);
      } catch {
        // none yet
      }
      return `${log}${proc.stderr().slice(-1000)}`;
    },
    async check() {
      const t = run(NGINX_BIN, ['-t', ...args]);
      return { code: await t.exited, output: t.stderr() };
    },
    async stop() {
      const how = await proc.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
      if (how === 'SIGKILL') throw new Error('nginx did not stop on SIGTERM');
    },
  };
}
