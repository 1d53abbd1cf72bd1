/**
 * 🔒 /api/streams/<id>/forwards[/<fid>]: the operator's forward targets of a stream. Every answer masks the key
 * (ForwardView.url); a bad URL is a 400 that says what is wrong without quoting it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Access } from '../http/access';
import { parseBody, stored, streamIdOf } from '../http/api';
import { HttpError, readJsonBody, sendJson } from '../http/respond';
import type { ForwardService } from './service';
import { FORWARD_ID_PATTERN, MAX_LABEL_LENGTH, TooManyForwardsError } from './store';
import { ForwardUrlError, MAX_FORWARD_URL_LENGTH, parseForwardUrl } from './url';

export interface ForwardApiDeps {
  access: Access;
  forwards: ForwardService;
  /** Is this a stored stream (one that can have targets)? */
  streamExists(id: string): boolean;
}

const url = z.string().min(1).max(MAX_FORWARD_URL_LENGTH);
const label = z.string().max(MAX_LABEL_LENGTH);
const createBody = z.object({ url, label: label.optional(), enabled: z.boolean().optional() }).strict();
const patchBody = z
  .object({ url: url.optional(), label: label.optional(), enabled: z.boolean().optional() })
  .strict()
  .refine((b) => b.url !== undefined || b.label !== undefined || b.enabled !== undefined, { message: 'nothing to change: send url, label and/or enabled' });

function checkedUrl(raw: string): string {
  try {
    parseForwardUrl(raw);
  } catch (err) {
    if (err instanceof ForwardUrlError) throw new HttpError(400, `bad url: ${err.message}`);
    throw err;
  }
  return raw;
}

const cleanLabel = (l: string) => l.trim().replace(/[\u0000-\u001f\u007f]/g, ' '); // eslint-disable-line no-control-regex

export async function forwardsRoute(req: IncomingMessage, res: ServerResponse, streamSegment: string, forwardSegment: string | undefined, deps: ForwardApiDeps): Promise<void> {
  const { access, forwards } = deps;
  const write = req.method !== 'GET';
  if (write) access.checkWrite(req, req.method !== 'DELETE');
  access.requireOperator(req);
  const id = streamIdOf(streamSegment);
  if (!id || !deps.streamExists(id)) throw new HttpError(404, 'no such stream');
  const store = forwards.store;

  if (forwardSegment === undefined) {
    if (req.method === 'GET') {
      sendJson(res, 200, { forwards: forwards.states(id) });
      return;
    }
    if (req.method !== 'POST') throw new HttpError(405, `${req.method} is not allowed here`);
    const body = parseBody(createBody, await readJsonBody(req));
    const target = { url: checkedUrl(body.url), label: cleanLabel(body.label ?? ''), enabled: body.enabled ?? true };
    let record;
    try {
      record = stored(() => store.create(id, target));
    } catch (err) {
      if (err instanceof TooManyForwardsError) throw new HttpError(409, err.message);
      throw err;
    }
    forwards.reconcile(id);
    sendJson(res, 201, forwards.view(record), { Location: `/api/streams/${id}/forwards/${record.id}` });
    return;
  }

  const fid = FORWARD_ID_PATTERN.test(forwardSegment) ? forwardSegment : null;
  if (req.method === 'GET') {
    const r = fid ? store.get(id, fid) : null;
    if (!r) throw new HttpError(404, 'no such forward target');
    sendJson(res, 200, forwards.view(r));
    return;
  }
  if (req.method === 'PATCH') {
    const body = parseBody(patchBody, await readJsonBody(req));
    const change = {
      ...(body.url !== undefined ? { url: checkedUrl(body.url) } : {}),
      ...(body.label !== undefined ? { label: cleanLabel(body.label) } : {}),
      ...(body.enabled !== undefined ? { enabled: body.enabled } : {}),
    };
    const r = fid ? stored(() => store.update(id, fid, change)) : null;
    if (!r) throw new HttpError(404, 'no such forward target');
    forwards.reconcile(id);
    sendJson(res, 200, forwards.view(r));
    return;
  }
  if (req.method === 'DELETE') {
    if (!fid || !stored(() => store.delete(id, fid))) throw new HttpError(404, 'no such forward target');
    forwards.reconcile(id);
    res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    return;
  }
  throw new HttpError(405, `${req.method} is not allowed here`);
}
