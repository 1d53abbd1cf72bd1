// Makes sure the programs the tests drive are on this machine: ffmpeg + ffprobe, rtmpdump, VLC, a Chromium, openssl,
// nginx with its RTMP and stream modules, and systemd-analyze.
// As root on Debian it installs what is missing with apt; otherwise it says how, and fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return path.join(dir, name);
    } catch {
      /* next */
    }
  }
  return null;
}

export async function playwrightChromium() {
  try {
    const { chromium } = await import('@playwright/test');
    const p = chromium.executablePath();
    return p && existsSync(p) ? p : null;
  } catch {
    return null;
  }
}

export async function findChromium() {
  const own = await playwrightChromium();
  if (own) return own;
  if (process.env.CHROMIUM_PATH && existsSync(process.env.CHROMIUM_PATH)) return process.env.CHROMIUM_PATH;
  if (existsSync('/usr/bin/chromium')) return '/usr/bin/chromium';
  return null;
}

export async function missingSystemDeps() {
  const missing = [];
  if (!onPath('ffmpeg') || !onPath('ffprobe')) missing.push('ffmpeg');
  if (!onPath('rtmpdump')) missing.push('rtmpdump'); // a librtmp client, for the relay's compatibility tests
  // VLC as an RTMP player (server/relay/vlc.integration.test.ts): cvlc and its base plugins, not the Qt GUI.
  if (!onPath('cvlc')) missing.push('vlc-bin', 'vlc-plugin-base');
  if (!(await findChromium())) missing.push('chromium');
  // TLS tests (server/tls/): test certificates, the shipped nginx proxy config, the systemd unit. nginx is also the
  // LL-HLS cache in front of the origin (server/hls/nginx-cache.integration.test.ts) and, with its RTMP module, a
  // forward target (server/forward/), with the stream module for its RTMPS (TLS) front.
  if (!onPath('openssl')) missing.push('openssl');
  if (!onPath('systemd-analyze')) missing.push('systemd');
  if (!existsSync('/usr/sbin/nginx') && !onPath('nginx')) missing.push('nginx');
  if (!existsSync('/usr/lib/nginx/modules/ngx_rtmp_module.so')) missing.push('libnginx-mod-rtmp');
  if (!existsSync('/usr/lib/nginx/modules/ngx_stream_module.so')) missing.push('libnginx-mod-stream');
  return missing;
}

export async function ensureSystemDeps() {
  let missing = await missingSystemDeps();
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = onPath('apt-get') !== null;
  if (!isRoot || !hasApt) {
    throw new Error(
      `missing for the tests: ${missing.join(', ')}. Install them, e.g. \`sudo apt-get install -y ${missing.join(' ')}\`` +
        ' (or set CHROMIUM_PATH to a Chromium), then run `npm test` again.',
    );
  }
  console.log(`[setup] installing ${missing.join(', ')} with apt-get (running as root)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  if (update.status !== 0) throw new Error('apt-get update failed');
  const install = spawnSync('apt-get', ['install', '-y', ...missing], { stdio: 'inherit', env });
  if (install.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed`);
  missing = await missingSystemDeps();
  if (missing.length) throw new Error(`still missing after apt-get install: ${missing.join(', ')}`);
  console.log(`[setup] installed; ${execFileSync('ffmpeg', ['-version']).toString().split('\n')[0]}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureSystemDeps().catch((err) => {
    console.error(`[setup] ${err.message}`);
    process.exit(1);
  });
}
