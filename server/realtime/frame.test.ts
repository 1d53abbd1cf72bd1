import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { binaryFrame } from './frame';

/** What a WebSocket client makes of the bytes: the `ws` library's own frame parser, as a browser would. */
function receive(bytes: Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    type R = { on(e: string, f: (...a: never[]) => void): void; write(b: Buffer): void };
    const { Receiver } = createRequire(import.meta.url)('ws') as { Receiver: new (o: object) => R };
    const r = new Receiver({ isServer: false, maxPayload: 0 });
    r.on('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }));
    r.on('error', reject);
    r.write(bytes);
  });
}

test('binary frames of every length class parse back to the same bytes; one buffer is framed once', async () => {
  for (const len of [0, 1, 125, 126, 127, 65535, 65536, 300_000]) {
    const data = Buffer.alloc(len, len % 251);
    const frame = binaryFrame(data);
    const got = await receive(frame);
    assert.equal(got.isBinary, true, `length ${len}`);
    assert.deepEqual(got.data, data, `length ${len}`);
    assert.equal(binaryFrame(data), frame, 'the same Buffer again: the same frame, not a new one');
  }
});
