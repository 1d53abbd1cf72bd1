import assert from 'node:assert/strict';
import { test } from 'node:test';
import { locateFfmpeg, parseFfmpegVersion } from './locate';

test('parses release, Debian and git version lines', () => {
  assert.deepEqual(parseFfmpegVersion('ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026'), {
    version: '5.1.9-0+deb12u1',
    major: 5,
    minor: 1,
  });
  assert.deepEqual(parseFfmpegVersion('ffmpeg version n4.1.11 Copyright'), { version: 'n4.1.11', major: 4, minor: 1 });
  // Git builds: the release comes from libavutil's version (this one is @ffmpeg-installer's, 4.1-era).
  const git = 'ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/\nlibavutil      56. 24.101 / 56. 24.101\n';
  assert.deepEqual(parseFfmpegVersion(git), { version: 'N-47683-g0e8eb07980-static', major: 4, minor: 1 });
  assert.deepEqual(parseFfmpegVersion('ffmpeg version N-112233-gabc\nlibavutil      59.  8.100 / 59.  8.100'), { version: 'N-112233-gabc', major: 7, minor: 0 });
  assert.equal(parseFfmpegVersion('ffmpeg version N-112233-gabc Copyright')?.major, 0, 'no libavutil line: too old to trust');
  assert.equal(parseFfmpegVersion('hello'), null);
});

test('an explicit FFMPEG_PATH that does not exist is skipped with its reason, the next candidate is used', async () => {
  const info = await locateFfmpeg('/nonexistent/ffmpeg');
  assert.ok(info.skipped[0].startsWith('FFMPEG_PATH (/nonexistent/ffmpeg): not found'), info.skipped[0]);
  // The test machine has ffmpeg (npm test installs it), so some later candidate is found.
  assert.equal(info.found, true);
  if (info.found) {
    assert.notEqual(info.source, 'FFMPEG_PATH');
    assert.ok(info.major >= 4);
  }
});

test('an explicit FFMPEG_PATH that is not ffmpeg is refused', async () => {
  const info = await locateFfmpeg('/bin/true');
  assert.match(info.skipped[0], /FFMPEG_PATH \(\/bin\/true\): does not print an ffmpeg version/);
});
