/**
 * Item 14: malformed percent escapes (and other odd targets) in API and HLS paths. Each must get a 4xx
 * (400 or 404; 405 for a wrong method), never a 500, and the server must stay up. The watch page's own view,
 * GET /api/watch/<id>, answers 200 `{known: false}` by design for any id (a page never logs a 404), so there a 200
 * is right too.
 */
import type { Attack } from '../suite';
import { collect, httpRequest, pick, rawConnect, statuses } from './tools';

const TARGETS = [
  '/api/streams/%', '/api/streams/%E0%A4%A', '/api/streams/%zz', '/api/streams/%C0%AF', '/api/streams/%ED%A0%80', '/api/streams/abc%',
  '/api/watch/%', '/api/watch/%E0%A4%A', '/api/streams/%/snapshot.jpg', '/api/streams/%E0%A4%A/snapshot.jpg',
  '/hls/%/index.m3u8', '/hls/%E0%A4%A/index.m3u8', '/hls/abc/%', '/hls/abc/index.m3u8?_HLS_msn=%', '/hls/abc/index.m3u8?_HLS_msn=1%', '/hls/%zz/x',
  '/api/streams/%00', '/api/streams/..%2f..%2fetc', '/api/%', '/api/streams/%25%',
];
const METHODS = ['GET', 'HEAD', 'DELETE', 'PATCH'];

export const badEscapes: Attack = {
  name: 'item 14: malformed % escapes in /api/streams/<id> and other paths',
  async run(ctx) {
    const rounds = pick(ctx, 1, 50);
    const codes = new Map<string, number>();
    const bad: string[] = [];
    let noAnswer = 0;
    for (let r = 0; r < rounds && ctx.server.alive(); r++) {
      for (const method of METHODS) {
        await Promise.all(TARGETS.map(async (target) => {
          let s;
          try {
            s = await rawConnect(ctx.server.httpPort, ctx.addr(r));
          } catch {
            return;
          }
          const got = collect(s, 5000, 4096);
          s.write(httpRequest(method, target, { Connection: 'close', ...(method === 'PATCH' ? { 'Content-Length': '2', 'Content-Type': 'application/json' } : {}) }) + (method === 'PATCH' ? '{}' : ''));
          const res = await got;
          s.destroy();
          const st = statuses(res.data)[0];
          if (st === undefined) {
            noAnswer++;
            return;
          }
          codes.set(String(st), (codes.get(String(st)) ?? 0) + 1);
          const watchView = target.startsWith('/api/watch/') && (method === 'GET' || method === 'HEAD') && st === 200;
          if (!watchView && (st >= 500 || st < 400)) bad.push(`${method} ${target} → ${st}`);
        }));
      }
    }
    const problems: string[] = [];
    if (bad.length) problems.push(`${bad.length} bad answers, e.g. ${[...new Set(bad)].slice(0, 6).join('; ')}`);
    if (noAnswer) problems.push(`${noAnswer} requests got no answer within 5 s`);
    return { notes: [`${rounds * METHODS.length * TARGETS.length} requests; statuses ${JSON.stringify(Object.fromEntries(codes))}`], problems };
  },
};
