import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ForwardUrlError, maskUrl, parseForwardUrl } from './url';

describe('forward target URLs', () => {
  test("platforms' URLs: key as the last path part, default ports, masked key", () => {
    const yt = parseForwardUrl('rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop-qrst');
    assert.deepEqual(yt, { secure: false, host: 'a.rtmp.youtube.com', port: 1935, app: 'live2', key: 'abcd-efgh-ijkl-mnop-qrst', tcUrl: 'rtmp://a.rtmp.youtube.com/live2' });
    assert.equal(maskUrl(yt), 'rtmp://a.rtmp.youtube.com/live2/••••qrst');
    const fb = parseForwardUrl('rtmps://live-api-s.facebook.com:443/rtmp/FB-123456789-0-AbCdEf?s_bl=1&s_psm=1');
    assert.equal(fb.secure, true);
    assert.equal(fb.port, 443);
    assert.equal(fb.app, 'rtmp');
    assert.equal(fb.key, 'FB-123456789-0-AbCdEf?s_bl=1&s_psm=1');
    assert.equal(maskUrl(fb), 'rtmps://live-api-s.facebook.com:443/rtmp/••••CdEf');
    assert.equal(parseForwardUrl('rtmps://x.example/app/k').port, 443);
    const nested = parseForwardUrl('rtmp://[::1]:1936/app/instance/short');
    assert.equal(nested.host, '::1');
    assert.equal(nested.app, 'app/instance');
    assert.equal(maskUrl(nested), 'rtmp://[::1]:1936/app/instance/••••');
    assert.equal(parseForwardUrl('RTMP://h.example/a/k').tcUrl, 'rtmp://h.example/a');
  });

  test('bad URLs are refused with a reason that never quotes the key', () => {
    const bad = [
      '',
      'http://h/app/key',
      'rtmp://h/key',
      'rtmp://h/',
      'rtmp://h:0/app/key',
      'rtmp://h:70000/app/key',
      'rtmp://user:pw@h/app/key',
      'rtmp://h/app/key with space',
      'rtmp://h/app/ke\u0000y',
      'rtmp://h/../key',
      'rtmp://h//key',
      'rtmp://-h-/app/key',
      'rtmp://[zz]/app/key',
      `rtmp://h/app/${'k'.repeat(3000)}`,
      'rtmp://h/app/?onlyquery',
    ];
    for (const u of bad) {
      assert.throws(() => parseForwardUrl(u), ForwardUrlError, u);
      try {
        parseForwardUrl(u);
      } catch (err) {
        if (u.includes('key')) assert.ok(!(err as Error).message.includes('key with'), u);
      }
    }
  });
});
