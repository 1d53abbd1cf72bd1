/**
 * Item 13: the stream registry cannot write (DATA_DIR replaced by a plain file after start: even root cannot
 * write below it). Creating streams must give a clear error answer (or succeed), an ingest `start` with a
 * title (which renames the stream) must not take the process down, and once DATA_DIR is back, creating
 * streams works again without a restart.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { Attack } from '../suite';
import { ingestClient, sendStart } from './item04-ingest-idle';
import { attackerStream, sleep } from './tools';

async function tryCreate(ctx: Parameters<Attack['run']>[0]): Promise<{ ok: boolean; what: string; ms: number }> {
  const t0 = Date.now();
  const timeout = new Promise<{ ok: boolean; what: string }>((r) => setTimeout(() => r({ ok: false, what: 'no answer in 10 s' }), 10000));
  const attempt = ctx.server.createStream('renamed?').then(
    (s) => ({ ok: true, what: `created ${s.id}` }),
    (err: Error) => ({ ok: false, what: err.message }),
  );
  const r = await Promise.race([attempt, timeout]);
  return { ...r, ms: Date.now() - t0 };
}

export const registryFailure: Attack = {
  name: 'item 13: DATA_DIR unwritable after start: create and rename streams, then DATA_DIR back',
  async run(ctx) {
    const notes: string[] = [];
    const problems: string[] = [];
    const dir = ctx.server.dataDir;
    const named = await attackerStream(ctx, 'before');
    await rm(dir, { recursive: true, force: true });
    await writeFile(dir, 'not a directory');
    try {
      for (let i = 0; i < (ctx.long ? 20 : 3); i++) {
        const r = await tryCreate(ctx);
        notes.push(`create while DATA_DIR is a file: ${r.what} (${r.ms} ms)`);
        if (r.what === 'no answer in 10 s') problems.push('POST /api/streams got no answer in 10 s while DATA_DIR was unwritable');
        else if (!r.ok && (!/POST \/api\/streams: [45]\d\d .+/.test(r.what) || /"internal error"/.test(r.what))) problems.push(`POST /api/streams failed without a clear error: ${r.what}`);
        if (!ctx.server.alive()) break;
      }
      // An ingest start with a title renames the stream (a registry write).
      if (ctx.server.alive()) {
        try {
          const c = await ingestClient(ctx, 0);
          sendStart(c, named, { title: 'a new title' });
          await sleep(1500);
          notes.push(`ingest start with a title: ${c.close ? `closed ${c.close.code} ${c.close.reason}` : c.messages.map((m) => String(m.type)).join(',') || 'no answer yet'}`);
          c.ws.terminate();
        } catch (err) {
          notes.push(`ingest socket: ${(err as Error).message}`);
        }
        await sleep(500);
      }
      if (!ctx.server.alive()) problems.push('the server exited while DATA_DIR was unwritable');
    } finally {
      await rm(dir, { force: true });
      await mkdir(dir, { recursive: true });
    }
    if (ctx.server.alive()) {
      const r = await tryCreate(ctx);
      notes.push(`create after DATA_DIR is back: ${r.what} (${r.ms} ms)`);
      if (!r.ok) problems.push(`creating a stream still fails after DATA_DIR is writable again: ${r.what}`);
    }
    return { notes, problems };
  },
};
