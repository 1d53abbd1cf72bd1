/**
 * A real nginx-rtmp (Debian `nginx` + `libnginx-mod-rtmp`) for tests: its own prefix and config in a temporary
 * directory, free loopback ports, one process (`master_process off`) started and stopped by its PID. It can be
 * stopped and started again on the same ports, frozen (SIGSTOP: it accepts connections and reads nothing), and asked
 * who publishes what (`rtmp_stat` on an HTTP port of its own). With `pullFrom`, its application `edge` pulls each
 * stream a player asks for from that RTMP URL (an edge in front of us). With `tls`, nginx's `stream` module terminates TLS on
 * `rtmpsPort` (on 127.0.0.1 and 127.0.0.2) in front of its RTMP port, as platforms' RTMPS ingest does.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { run, waitFor, type Proc } from './harness';
import { freePort } from './sockets';

export const NGINX_BIN = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const MODULES = '/usr/lib/nginx/modules';

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

  const reachable = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });

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
      const p = run(NGINX_BIN, ['-p', dir, '-c', path.join(dir, 'nginx.conf')]);
      proc = p;
      void p.exited.then(() => {
        if (proc === p) proc = null;
      });
      await waitFor('nginx-rtmp listening', async () => {
        if (proc !== p) throw new Error(`nginx exited: ${p.stderr()}`);
        return (await reachable(rtmpPort)) && (await reachable(statPort));
      }, 10000, 50);
    },
    async stop() {
      const p = proc;
      if (!p) return;
      p.child.kill('SIGCONT');
      await p.kill('SIGTERM');
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
