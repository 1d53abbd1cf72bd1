/**
 * Small helpers shared by the benchmarks: free ports and TCP probes on 127.0.0.1, the test file
 * encoder, and finding (or installing, as root) nginx with its RTMP module.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';

export { freePort, tcpOpen } from '../server/testing/sockets';

/**
 * Encode the looped test file once: 30 s of 1280x720 30 fps H.264 (2500k, keyframe every second)
 * and a 440 Hz AAC 128k tone at `sampleRate`, as FLV, through a temp file renamed into place.
 */
export function encodeTestFile(dest: string, sampleRate: number, timeoutMs: number): void {
  mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.tmp.flv`;
  const r = spawnSync(
    'ffmpeg',
    [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30,noise=alls=30:allf=t+u',
      '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${sampleRate}`,
      '-t', '30',
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
      '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '2500k', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
      '-c:a', 'aac', '-b:a', '128k',
      '-f', 'flv', tmp,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], timeout: timeoutMs },
  );
  if (r.status !== 0) throw new Error(`ffmpeg encode failed (${r.status ?? r.signal})`);
  renameSync(tmp, dest);
}

export function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`]);
  return r.status === 0 ? r.stdout.toString().trim() : null;
}

export function findNginxModule(): string | null {
  for (const dir of ['/usr/lib/nginx/modules', '/usr/share/nginx/modules', '/usr/lib64/nginx/modules']) {
    const p = path.join(dir, 'ngx_rtmp_module.so');
    if (existsSync(p)) return p;
  }
  // The Debian snippet names the .so.
  const avail = '/usr/share/nginx/modules-available/mod-rtmp.conf';
  if (existsSync(avail)) {
    const m = /load_module\s+([^;]+);/.exec(readFileSync(avail, 'utf8'));
    if (m && existsSync(m[1].trim())) return m[1].trim();
  }
  return null;
}

/** nginx and its RTMP module; as root, installed with apt-get when missing. Throws when they are not there. */
export function ensureNginx(log: (msg: string) => void): { bin: string; module: string; version: string } {
  let bin = which('nginx');
  let module = findNginxModule();
  if ((!bin || !module) && process.getuid?.() === 0) {
    log('installing nginx and libnginx-mod-rtmp with apt-get ...');
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', timeout: 300_000 });
    spawnSync('apt-get', ['install', '-y', '-qq', 'nginx', 'libnginx-mod-rtmp'], {
      stdio: 'inherit',
      timeout: 600_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    bin = which('nginx');
    module = findNginxModule();
  }
  if (!bin || !module) throw new Error('nginx or its RTMP module is missing (apt-get install nginx libnginx-mod-rtmp)');
  const v = spawnSync(bin, ['-v']).stderr.toString().trim().replace(/^nginx version: /, '');
  const modv = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'libnginx-mod-rtmp']).stdout?.toString().trim();
  return { bin, module, version: `${v}, libnginx-mod-rtmp ${modv || '?'}` };
}
