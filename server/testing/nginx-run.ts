/**
 * A real nginx (Debian's) for tests: started in the foreground with a main config of our own (pid, logs and temp
 * files in the test's directory) around an `http { ... }` body, on ports the test chose; stopped with SIGQUIT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tcpOpen } from './sockets';

export { freePort } from './sockets';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? 'nginx';

export interface RunningNginx {
  child: ChildProcess;
  errorLog(): string;
  accessLog(): string;
  stop(): Promise<void>;
}

/** Starts nginx with `httpBody` inside `http { }`; resolves once `waitPort` accepts connections. */
export async function startNginx(dir: string, httpBody: string, waitPort: number): Promise<RunningNginx> {
  const temp = path.join(dir, 'nginx-temp');
  mkdirSync(temp, { recursive: true });
  const errorLog = path.join(dir, 'nginx-error.log');
  const accessLog = path.join(dir, 'nginx-access.log');
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
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
  const child = spawn(NGINX, ['-p', dir, '-c', conf, '-e', errorLog], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  const deadline = Date.now() + 15_000;
  while (!(await tcpOpen(waitPort))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start: ${stderr} ${read(errorLog).slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    errorLog: () => read(errorLog),
    accessLog: () => read(accessLog),
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}
