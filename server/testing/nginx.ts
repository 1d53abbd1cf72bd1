/**
 * Real nginx for tests and benchmarks (Debian's `nginx`, `libnginx-mod-rtmp`), one launcher (`launchNginx`: a config
 * file in a directory of its own, run in the foreground, ready when its ports accept, stopped by its PID) under three
 * uses: nginx-rtmp (`startNginxRtmp`), a reverse proxy around an `http {}` body (`startNginx`), and the shipped
 * LL-HLS cache, docs/deploy/nginx-cache.conf (`startNginxCache`).
 *
 * nginx-rtmp: its own prefix and config in a temporary
 * directory, free loopback ports, one process (`master_process off`) started and stopped by its PID. It can be
 * stopped and started again on the same ports, frozen (SIGSTOP: it accepts connections and reads nothing), and asked
 * who publishes what (`rtmp_stat` on an HTTP port of its own). With `pullFrom`, its application `edge` pulls each
 * stream a player asks for from that RTMP URL (an edge in front of us). With `tls`, nginx's `stream` module terminates TLS on
 * `rtmpsPort` (on 127.0.0.1 and 127.0.0.2) in front of its RTMP port, as platforms' RTMPS ingest does.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type Proc } from './harness';
import { freePort, tcpOpen } from './sockets';

export const NGINX_BIN = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const MODULES = '/usr/lib/nginx/modules';

/** Run nginx in the foreground on `confFile` (prefix `dir`); resolves once every port in `ports` accepts connections. */
export async function launchNginx(dir: string, confFile: string, ports: number[], opts: { errorLog?: string; timeoutMs?: number } = {}): Promise<Proc> {
  const p = run(NGINX_BIN, ['-p', dir, ...(opts.errorLog ? ['-e', opts.errorLog] : []), '-c', confFile]);
  let gone = false;
  void p.exited.then(() => (gone = true));
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    if (gone) throw new Error(`nginx exited: ${p.stderr().slice(-2000)}`);
    if ((await Promise.all(ports.map((port) => tcpOpen(port)))).every(Boolean)) return p;
    if (Date.now() > deadline) {
      await p.kill('SIGKILL');
      throw new Error(`nginx not listening on ${ports.join(', ')} after ${opts.timeoutMs ?? 15_000} ms: ${p.stderr().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stop it by its PID with `signal`; SIGKILL after 5 s. Resolves with how it ended. */
async function stopNginx(p: Proc, signal: NodeJS.Signals): Promise<number | string> {
  p.child.kill('SIGCONT');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  const how = await p.kill(signal);
  clearTimeout(t);
  return how;
}

export function nginxRtmpAvailable(): boolean {
  return existsSync(NGINX_BIN === 'nginx' ? '/usr/bin/nginx' : NGINX_BIN) && existsSync(path.join(MODULES, 'ngx_rtmp_module.so'));
}

export interface NginxRtmp {
  rtmpPort: number;
  statPort: number;
  rtmpsPort: number | null;
  /** `rtmp://127.0.0.1:PORT/app/name`. */
  url(name: string, app?: string): string;
  rtmpsUrl(name: string, app?: string, host?: string): string;
  readonly pid: number | null;
  start(): Promise<void>;
  /** SIGTERM by PID, and wait for the exit. */
  stop(): Promise<void>;
  freeze(): void;
  thaw(): void;
  /** The nginx-side publishers of `app`: stream name and the connection's id and age (ms). */
  publishers(app?: string): Promise<Array<{ name: string; clientId: string; timeMs: number }>>;
  /** Stop it and remove its directory. */
  dispose(): Promise<void>;
}

export async function startNginxRtmp(opts: { app?: string; tls?: { certFile: string; keyFile: string }; pullFrom?: string } = {}): Promise<NginxRtmp> {
  const app = opts.app ?? 'live';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-nginx-'));
  const [rtmpPort, statPort, rtmpsPort] = await Promise.all([freePort(), freePort(), opts.tls ? freePort() : Promise.resolve(null)]);
  const tmp = path.join(dir, 'tmp');
  const conf = `
load_module ${MODULES}/ngx_rtmp_module.so;
${opts.tls ? `load_module ${MODULES}/ngx_stream_module.so;` : ''}
daemon off;
master_process off;
error_log ${dir}/error.log info;
pid ${dir}/nginx.pid;
events { worker_connections 512; }
rtmp {
  server {
    listen 127.0.0.1:${rtmpPort};
    chunk_size 4096;
    application ${app} { live on; }
    ${opts.pullFrom ? `application edge { live on; pull ${opts.pullFrom}; }` : ''}
  }
}
${
  opts.tls
    ? `stream {
  server {
    listen 127.0.0.1:${rtmpsPort} ssl;
    listen 127.0.0.2:${rtmpsPort} ssl;
    ssl_certificate ${opts.tls.certFile};
    ssl_certificate_key ${opts.tls.keyFile};
    proxy_pass 127.0.0.1:${rtmpPort};
  }
}`
    : ''
}
http {
  access_log off;
  client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp}; uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};
  server { listen 127.0.0.1:${statPort}; location /stat { rtmp_stat all; } }
}
`;
  await writeFile(path.join(dir, 'nginx.conf'), conf);
  let proc: Proc | null = null;

  const self: NginxRtmp = {
    rtmpPort,
    statPort,
    rtmpsPort,
    url: (name, a = app) => `rtmp://127.0.0.1:${rtmpPort}/${a}/${name}`,
    rtmpsUrl: (name, a = app, host = '127.0.0.1') => `rtmps://${host}:${rtmpsPort}/${a}/${name}`,
    get pid() {
      return proc?.child.pid ?? null;
    },
    async start() {
      if (proc) return;
      const p = await launchNginx(dir, path.join(dir, 'nginx.conf'), [rtmpPort, statPort], { timeoutMs: 10_000 });
      proc = p;
      void p.exited.then(() => {
        if (proc === p) proc = null;
      });
    },
    async stop() {
      const p = proc;
      if (!p) return;
      await stopNginx(p, 'SIGTERM');
      proc = null;
    },
    freeze() {
      proc?.child.kill('SIGSTOP');
    },
    thaw() {
      proc?.child.kill('SIGCONT');
    },
    async publishers(a = app) {
      const res = await fetch(`http://127.0.0.1:${statPort}/stat`);
      const xml = await res.text();
      const out: Array<{ name: string; clientId: string; timeMs: number }> = [];
      const appBlock = new RegExp(`<application>\\s*<name>${a}</name>([\\s\\S]*?)</application>`).exec(xml)?.[1] ?? '';
      for (const stream of appBlock.matchAll(/<stream>([\s\S]*?)<\/stream>/g)) {
        const name = /<name>([^<]*)<\/name>/.exec(stream[1])?.[1] ?? '';
        for (const client of stream[1].matchAll(/<client>([\s\S]*?)<\/client>/g)) {
          if (!client[1].includes('<publishing/>')) continue;
          out.push({
            name,
            clientId: /<id>(\d+)<\/id>/.exec(client[1])?.[1] ?? '',
            timeMs: Number(/<time>(\d+)<\/time>/.exec(client[1])?.[1] ?? 0),
          });
        }
      }
      return out;
    },
    async dispose() {
      await self.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}

// ---- a reverse proxy around an http {} body (server/tls/nginx-proxy.integration.test.ts) ---------------------------

export interface RunningNginx {
  proc: Proc;
  errorLog(): string;
  accessLog(): string;
  stop(): Promise<void>;
}

/** nginx with `httpBody` inside `http { }` (pid, logs, temp files in `dir`); resolves once `waitPort` accepts. */
export async function startNginx(dir: string, httpBody: string, waitPort: number): Promise<RunningNginx> {
  const temp = path.join(dir, 'nginx-temp');
  mkdirSync(temp, { recursive: true });
  const errorLog = path.join(dir, 'nginx-error.log');
  const accessLog = path.join(dir, 'nginx-access.log');
  const asRoot = process.getuid?.() === 0;
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `${asRoot ? 'user root;\n' : ''}daemon off;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${errorLog} info;
events { worker_connections 1024; }
http {
  access_log ${accessLog};
  client_body_temp_path ${temp}/body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
${httpBody}
}
`,
  );
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  const proc = await launchNginx(dir, conf, [waitPort], { errorLog }).catch((err: Error) => {
    throw new Error(`${err.message} ${read(errorLog).slice(-2000)}`);
  });
  return {
    proc,
    errorLog: () => read(errorLog),
    accessLog: () => read(accessLog),
    async stop() {
      await stopNginx(proc, 'SIGQUIT');
    },
  };
}

// ---- the shipped LL-HLS cache, docs/deploy/nginx-cache.conf (tests and bench/hls/viewers.ts --via nginx) -----------

const CACHE_CONF = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/deploy/nginx-cache.conf');

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
  /** SIGTERM to the master (it stops its workers), then its directory goes; throws if it needed a SIGKILL. */
  stop(): Promise<void>;
}

/** utime + stime of a process from /proc, seconds (clock ticks of 1/100 s). */
function procSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
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

/** A variant of a cache config for the benchmark: another file with the same placeholders, and directives set anew. */
export interface NginxCacheVariant {
  /** Default: the shipped docs/deploy/nginx-cache.conf. */
  confPath?: string;
  /** Directive name -> the value that replaces its value wherever the file sets it (it must set it). */
  set?: Record<string, string>;
}

/** Set each directive of `set` to its new value everywhere the config sets it (a directive it never sets is an error). */
export function setDirectives(conf: string, set: Record<string, string>): string {
  let out = conf;
  for (const [name, value] of Object.entries(set)) {
    if (!/^[a-z_]+$/.test(name) || /[;{}\n]/.test(value)) throw new Error(`not a directive to set: ${name} ${value}`);
    const re = new RegExp(`^(\\s*${name}\\s)[^;]*;`, 'gm');
    if (!re.test(out)) throw new Error(`the config does not set ${name}`);
    out = out.replace(re, `$1${value};`);
  }
  return out;
}

/**
 * The shipped cache config, its placeholders filled in (a free loopback port, the origin, files in a new directory);
 * or a variant of it (the benchmark's, bench/hls/viewers.ts --via).
 */
export async function startNginxCache(originPort: number, originHost = '127.0.0.1', variant: NginxCacheVariant = {}): Promise<NginxCache> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'golive-nginx-cache-'));
  await chmod(dir, 0o777); // the workers run as nobody when we are root: they write the cache and temp files here
  const port = await freePort();
  const conf = setDirectives(await readFile(variant.confPath ?? CACHE_CONF, 'utf8'), variant.set ?? {})
    .replaceAll('{{LISTEN}}', `127.0.0.1:${port}`)
    .replaceAll('{{ORIGIN}}', `${originHost}:${originPort}`)
    .replaceAll('{{CACHE_DIR}}', path.join(dir, 'cache'))
    .replaceAll('{{PREFIX}}', dir);
  if (conf.includes('{{')) throw new Error('a placeholder of nginx-cache.conf was not replaced');
  const confFile = path.join(dir, 'nginx.conf');
  await writeFile(confFile, conf);
  const errorLog = path.join(dir, 'error.log');
  // The shipped file is a daemon's: in the foreground here (-g), so it is ours to stop.
  const p = run(NGINX_BIN, ['-p', dir, '-e', errorLog, '-c', confFile, '-g', 'daemon off;']);
  const deadline = Date.now() + 15_000;
  while (!(await tcpOpen(port))) {
    if (p.child.exitCode !== null || Date.now() > deadline) {
      await p.kill('SIGKILL');
      throw new Error(`nginx cache did not start: ${p.stderr().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = p.child.pid!;
  let workers: number[] = [];
  return {
    base: `http://127.0.0.1:${port}`,
    dir,
    proc: p,
    cpuSeconds() {
      if (workers.length === 0) workers = childrenOf(pid);
      return procSeconds(pid) + workers.reduce((n, w) => n + procSeconds(w), 0);
    },
    errors() {
      const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8').slice(-2000) : '';
      return `${log}${p.stderr().slice(-1000)}`;
    },
    async check() {
      const t = run(NGINX_BIN, ['-t', '-p', dir, '-e', errorLog, '-c', confFile]);
      return { code: await t.exited, output: t.stderr() };
    },
    async stop() {
      const how = await stopNginx(p, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
      if (how === 'SIGKILL') throw new Error('nginx did not stop on SIGTERM');
    },
  };
}
