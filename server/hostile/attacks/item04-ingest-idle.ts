/**
 * Item 4: `/ingest` sessions that say `start` (with a valid key, each on its own stream) and then send no
 * media, then the same with only the first WebM chunk. ffmpeg is for real media: none may run for a
 * session that sent none, and never more than the ingest limit in all, whatever the number of sockets.
 */
import WebSocket from 'ws';
import { testWebm } from '../../testing/media';
import { ingestFfmpegChildren } from '../server-process';
import type { Attack, AttackContext } from '../suite';
import { attackerStream, pick, sleep } from './tools';

/** Most ffmpeg processes the server may run for these sessions (the ingest benchmark kept 8 remux ingests in real time). */
export const MAX_INGEST_FFMPEG = Number(process.env.HOSTILE_MAX_INGEST_FFMPEG ?? 8);

export interface IngestClient {
  ws: WebSocket;
  messages: Array<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
  close: { code: number; reason: string } | null;
}

export function ingestClient(ctx: AttackContext, n: number, opts: { answerPings?: boolean } = {}): Promise<IngestClient> {
  const ws = new WebSocket(`${ctx.server.http.replace('http', 'ws')}/ingest`, { localAddress: ctx.addr(n), handshakeTimeout: 5000 });
  const c: IngestClient = { ws, messages: [], closed: null as unknown as Promise<{ code: number; reason: string }>, close: null };
  c.closed = new Promise((resolve) => ws.on('close', (code, reason) => {
    c.close = { code, reason: reason.toString() };
    resolve(c.close);
  }));
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    try {
      const m = JSON.parse(data.toString()) as Record<string, unknown>;
      c.messages.push(m);
      if (opts.answerPings && m.type === 'ping') ws.send(JSON.stringify({ type: 'pong', serverTime: m.serverTime, clientTime: Date.now() }));
    } catch {
      /* not ours to judge */
    }
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(c));
    ws.once('error', reject);
  });
}

export function sendStart(c: IngestClient, s: { id: string; key: string }, extra: Record<string, unknown> = {}): void {
  c.ws.send(JSON.stringify({ type: 'start', v: 1, streamId: s.id, key: s.key, mimeType: 'video/webm;codecs=h264,opus', captureStart: Date.now(), ...extra }));
}

export const ingestIdle: Attack = {
  name: 'item 4: /ingest starts that send no media (then only a first chunk): ffmpeg only for media, capped',
  async run(ctx) {
    const n = pick(ctx, 12, 40);
    const notes: string[] = [];
    const problems: string[] = [];
    const clients: IngestClient[] = [];
    const base = ingestFfmpegChildren(ctx.server.pid);
    try {
      const streams = await Promise.all(Array.from({ length: n }, () => attackerStream(ctx)));
      const opened = await Promise.allSettled(streams.map((_, i) => ingestClient(ctx, i % 4)));
      for (const o of opened) if (o.status === 'fulfilled') clients.push(o.value);
      clients.forEach((c, i) => sendStart(c, streams[i]));
      let maxIdle = 0;
      for (let t = 0; t < 8; t++) {
        await sleep(250);
        maxIdle = Math.max(maxIdle, ingestFfmpegChildren(ctx.server.pid) - base);
      }
      const started = clients.filter((c) => c.messages.some((m) => m.type === 'started')).length;
      notes.push(`${clients.length}/${n} sockets open, ${started} got "started"; ffmpeg children with no media sent: up to ${maxIdle}`);
      if (maxIdle > 0) problems.push(`${maxIdle} ffmpeg processes ran for ${clients.length} ingest sessions that sent no media`);

      const head = (await testWebm()).subarray(0, 32 * 1024);
      for (const c of clients) if (c.ws.readyState === WebSocket.OPEN) c.ws.send(head);
      let maxHead = 0;
      for (let t = 0; t < 8; t++) {
        await sleep(250);
        maxHead = Math.max(maxHead, ingestFfmpegChildren(ctx.server.pid) - base);
      }
      notes.push(`after one 32 KiB WebM chunk each: up to ${maxHead} ffmpeg children (bound ${MAX_INGEST_FFMPEG})`);
      if (maxHead > MAX_INGEST_FFMPEG) problems.push(`${maxHead} ffmpeg processes for ${clients.length} ingest sockets (bound ${MAX_INGEST_FFMPEG})`);

      if (ctx.long) {
        // Sessions that then send nothing are closed by the server within a generous 30 s.
        const deadline = Date.now() + 30000;
        while (Date.now() < deadline && clients.some((c) => !c.close)) await sleep(500);
        const open = clients.filter((c) => !c.close).length;
        const codes = [...new Set(clients.filter((c) => c.close).map((c) => `${c.close!.code} ${c.close!.reason}`))];
        notes.push(`silent sessions after 30 s: ${open} still open; closes: ${codes.slice(0, 4).join(' | ')}`);
        if (open) problems.push(`${open} ingest sessions that send nothing were not closed within 30 s`);
      }
    } finally {
      for (const c of clients) c.ws.terminate();
    }
    // Let the server reap what it started.
    for (let t = 0; t < 20 && ingestFfmpegChildren(ctx.server.pid) > base; t++) await sleep(250);
    return { notes, problems };
  },
};
