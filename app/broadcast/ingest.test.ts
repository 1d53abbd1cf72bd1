/**
 * The page's ingest client when the server restarts (close code 1012): it keeps reconnecting with backoff to the
 * same stream, longer than after an ordinary lost connection, and goes live again when the server is back.
 * Fake WebSocket / MediaRecorder / window; timers and Date mocked.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';

class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static all: FakeSocket[] = [];
  readyState = FakeSocket.CONNECTING;
  binaryType = 'blob';
  bufferedAmount = 0;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: unknown): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = FakeSocket.CLOSED;
  }
  // --- the server's side ---
  open(): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }
  message(msg: object): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  serverClose(code: number, reason = ''): void {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code, reason });
  }
}

class FakeRecorder {
  state = 'inactive';
  ondataavailable: unknown = null;
  onerror: unknown = null;
  private listeners: Array<() => void> = [];
  start(): void {
    this.state = 'recording';
  }
  stop(): void {
    this.state = 'inactive';
    for (const l of this.listeners.splice(0)) l();
  }
  addEventListener(_type: string, fn: () => void): void {
    this.listeners.push(fn);
  }
}

const g = globalThis as Record<string, unknown>;
const saved = { WebSocket: g.WebSocket, MediaRecorder: g.MediaRecorder, window: g.window };

beforeEach(() => {
  FakeSocket.all = [];
  g.WebSocket = FakeSocket;
  g.MediaRecorder = FakeRecorder;
  g.window = { addEventListener: () => undefined, removeEventListener: () => undefined };
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_800_000_000_000 });
});

afterEach(() => {
  mock.timers.reset();
  g.WebSocket = saved.WebSocket;
  g.MediaRecorder = saved.MediaRecorder;
  g.window = saved.window;
});

function startMessages(): Array<Record<string, unknown>> {
  return FakeSocket.all.flatMap((s) => s.sent.filter((d): d is string => typeof d === 'string').map((d) => JSON.parse(d) as Record<string, unknown>)).filter((m) => m.type === 'start');
}

test('1012 "server restarting": the page reconnects with backoff to the same stream, for longer than a minute, and goes live again', async () => {
  const { IngestClient } = await import('./ingest');
  const client = new IngestClient();
  client.start({
    wsUrl: 'ws://server/ingest',
    streamId: 'abc123',
    key: 'abc123_secret',
    mimeType: 'video/webm;codecs=h264',
    stream: {} as MediaStream,
    recorderOptions: {} as never,
    maxMessageBytes: 1024 * 1024,
  });
  const first = FakeSocket.all[0];
  first.open();
  first.message({ type: 'started', streamId: 'abc123', transcode: false, urls: { watch: 'w', hls: 'h', rtmpPlay: 'r' } });
  assert.equal(client.getSnapshot().status, 'live');

  first.serverClose(1012, 'server restarting');
  assert.equal(client.getSnapshot().status, 'reconnecting');
  assert.match(client.getSnapshot().notice ?? '', /restarting/);

  // The server is down for 3 minutes: every attempt is refused (1006), with growing delays.
  const downUntil = Date.now() + 180_000;
  const delays: number[] = [];
  let seen = FakeSocket.all.length;
  let last = Date.now();
  while (Date.now() < downUntil) {
    mock.timers.tick(100);
    await Promise.resolve();
    if (FakeSocket.all.length > seen) {
      seen = FakeSocket.all.length;
      delays.push(Date.now() - last);
      FakeSocket.all[seen - 1].serverClose(1006);
      last = Date.now();
      assert.equal(client.getSnapshot().status, 'reconnecting', `still reconnecting after ${Math.round((Date.now() - (downUntil - 180_000)) / 1000)} s`);
    }
  }
  assert.ok(delays.length >= 10, `kept trying (${delays.length} attempts)`);
  assert.ok(delays[1] > delays[0] && Math.max(...delays) <= 5100, `backoff ${delays.join(',')}`);
  assert.match(client.getSnapshot().notice ?? '', /restarting/);

  // Back: the next attempt opens, sends `start` for the same stream, and is live again.
  while (FakeSocket.all.length === seen) {
    mock.timers.tick(100);
    await Promise.resolve();
  }
  const back = FakeSocket.all.at(-1)!;
  back.open();
  back.message({ type: 'started', streamId: 'abc123', transcode: false, urls: { watch: 'w', hls: 'h', rtmpPlay: 'r' } });
  assert.equal(client.getSnapshot().status, 'live');
  const starts = startMessages();
  assert.ok(starts.length >= 2);
  assert.ok(starts.every((m) => m.streamId === 'abc123' && m.key === 'abc123_secret'), 'same stream, same key');
  client.dispose();
});
