import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { publishTestStream, startTestServer, waitLive, type Proc, type TestServer } from '../server/testing/harness';
import { isKeyframe, LitePlayer } from './rtmp-lite-client';

test('isKeyframe: AVC NALU keyframes only, not sequence headers or inter frames', () => {
  assert.equal(isKeyframe(Buffer.from([0x17, 0x01, 0, 0, 0])), true);
  assert.equal(isKeyframe(Buffer.from([0x17, 0x00, 0, 0, 0])), false); // sequence header
  assert.equal(isKeyframe(Buffer.from([0x27, 0x01, 0, 0, 0])), false); // inter frame
  assert.equal(isKeyframe(Buffer.from([0x92, 0, 0, 0, 0])), false); // enhanced, inter frame
  assert.equal(isKeyframe(Buffer.from([0x91, 0, 0, 0, 0])), true); // enhanced, key frame, coded frames
});

let server: TestServer;
let pub: Proc;
let id: string;
before(async () => {
  server = await startTestServer();
  const s = await server.createStream();
  id = s.id;
  pub = publishTestStream(`${server.rtmpUrl}/${s.key}`, { seconds: 20 });
  await waitLive(server, id);
});
after(async () => {
  await pub?.kill('SIGKILL');
  await server?.stop();
});

test('the bench player gets a first frame from our server, then counts bytes', async () => {
  const player = await new Promise<LitePlayer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no first frame within 10 s')), 10_000);
    const p = new LitePlayer({
      host: '127.0.0.1',
      port: server.rtmpPort!,
      app: 'live',
      name: id,
      onFirstFrame: () => {
        clearTimeout(timer);
        resolve(p);
      },
      onClose: (pl) => reject(new Error(`closed: ${pl.error}`)),
    });
    p.start();
  });
  assert.equal(player.phase, 'streaming');
  assert.ok(player.firstFrameMs !== null && player.firstFrameMs > 0);
  const before = player.bytes;
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(player.bytes > before, 'keeps receiving after the first frame');
  player.stop();
});

test('the bench player reports a refused play', async () => {
  const err = await new Promise<string | null>((resolve) => {
    const p = new LitePlayer({ host: '127.0.0.1', port: server.rtmpPort!, app: 'live', name: 'nosuchstream', onClose: (pl) => resolve(pl.error) });
    p.start();
  });
  assert.match(err ?? '', /StreamNotFound/);
});
