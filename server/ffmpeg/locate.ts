import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export type FfmpegSource = 'FFMPEG_PATH' | 'ffmpeg-static' | 'PATH' | '@ffmpeg-installer/ffmpeg';

export interface FfmpegFound {
  found: true;
  path: string;
  version: string;
  major: number;
  minor: number;
  source: FfmpegSource;
  /** Candidates tried before this one and why they were passed over. */
  skipped: string[];
}

export interface FfmpegMissing {
  found: false;
  reason: string;
  skipped: string[];
}

export type FfmpegInfo = FfmpegFound | FfmpegMissing;

const MIN_MAJOR = 4;
const MIN_MINOR = 1;

/** Parse the first line of `ffmpeg -version`. */
export function parseFfmpegVersion(text: string): { version: string; major: number; minor: number } | null {
  const m = /ffmpeg version (\S+)/.exec(text);
  if (!m) return null;
  const version = m[1];
  const nums = /^n?(\d+)\.(\d+)/.exec(version);
  if (nums) return { version, major: Number(nums[1]), minor: Number(nums[2]) };
  // Git builds ("N-47683-g...", as in @ffmpeg-installer) say no release: libavutil's major tells it (56 = 4.x,
  // 57 = 5.x, ... 60 = 8.x; 56.22 came with 4.1). Without that line, assume a build too old to trust.
  const lib = /libavutil\s+(\d+)\.\s*(\d+)/.exec(text);
  if (!lib) return { version, major: 0, minor: 0 };
  const [libMajor, libMinor] = [Number(lib[1]), Number(lib[2])];
  return { version, major: libMajor - 52, minor: libMajor === 56 && libMinor >= 22 ? 1 : 0 };
}

function probe(bin: string): Promise<{ version: string; major: number; minor: number }> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['-hide_banner', '-version'], { timeout: 10_000 }, (err, stdout) => {
      if (err) {
        reject(new Error((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : err.message.split('\n')[0]));
        return;
      }
      const v = parseFfmpegVersion(stdout);
      if (!v) reject(new Error('does not print an ffmpeg version'));
      else if (v.major < MIN_MAJOR || (v.major === MIN_MAJOR && v.minor < MIN_MINOR))
        reject(new Error(`version ${v.version} is older than ${MIN_MAJOR}.${MIN_MINOR}`));
      else resolve(v);
    });
  });
}

function fromPackage(name: string, pick: (mod: unknown) => unknown): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const mod: unknown = require(name);
    const p = pick(mod);
    return typeof p === 'string' && p ? p : undefined;
  } catch {
    return undefined;
  }
}

/** The executable `name` on PATH, or undefined. */
export function onPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/**
 * Find a usable ffmpeg (>= 4.1), in this order: FFMPEG_PATH, ffmpeg-static, `ffmpeg` on PATH,
 * @ffmpeg-installer/ffmpeg. Never throws: with none, says why.
 */
export async function locateFfmpeg(explicit?: string): Promise<FfmpegInfo> {
  const candidates: Array<{ source: FfmpegSource; path: () => string | undefined }> = [
    { source: 'FFMPEG_PATH', path: () => explicit },
    { source: 'ffmpeg-static', path: () => fromPackage('ffmpeg-static', (m) => m) },
    { source: 'PATH', path: () => onPath('ffmpeg') },
    {
      source: '@ffmpeg-installer/ffmpeg',
      path: () => fromPackage('@ffmpeg-installer/ffmpeg', (m) => (m as { path?: string }).path),
    },
  ];
  const skipped: string[] = [];
  for (const c of candidates) {
    const bin = c.path();
    if (!bin) {
      if (c.source !== 'FFMPEG_PATH') skipped.push(`${c.source}: not installed`);
      continue;
    }
    try {
      const v = await probe(bin);
      return { found: true, path: bin, source: c.source, skipped, ...v };
    } catch (err) {
      skipped.push(`${c.source} (${bin}): ${(err as Error).message}`);
    }
  }
  return {
    found: false,
    reason: `no usable ffmpeg >= ${MIN_MAJOR}.${MIN_MINOR} (${skipped.join('; ')}); install one (apt-get install ffmpeg) or set FFMPEG_PATH`,
    skipped,
  };
}
