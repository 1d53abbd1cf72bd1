import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { binaryFrame, textFrame } from './frame';

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

test('a text frame (the clock) parses back to the same text, also after a binary frame in the same write', async () => {
  const text = JSON.stringify({ clock: { mediaMs: 123456, wallMs: 1764820000000 } });
  const got = await receive(textFrame(text));
  assert.equal(got.isBinary, false);
  assert.equal(got.data.toString('utf8'), text);
  // Media and the clock in one write, as a viewer gets them: two messages, in order.
  const both = await new Promise<Array<{ data: string; isBinary: boolean }>>((resolve, reject) => {
    type R = { on(e: string, f: (...a: never[]) => void): void; write(b: Buffer): void };
    const { Receiver } = createRequire(import.meta.url)('ws') as { Receiver: new (o: object) => R };
    const r = new Receiver({ isServer: false, maxPayload: 0 });
    const out: Array<{ data: string; isBinary: boolean }> = [];
    r.on('message', (data: Buffer, isBinary: boolean) => {
      out.push({ data: data.toString('utf8'), isBinary });
      if (out.length === 2) resolve(out);
    });
    r.on('error', reject);
    r.write(Buffer.concat([binaryFrame(Buffer.from('media')), textFrame(text)]));
  });
  assert.deepEqual(both, [{ data: 'media', isBinary: true }, { data: text, isBinary: false }]);
});
