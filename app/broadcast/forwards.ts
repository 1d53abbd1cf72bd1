/**
 * "Also stream to" (forward targets of the page's stream): the platform presets, how a target's URL is made from a
 * server and a key, how a target's state reads, and the operator API (GET/POST/PATCH/DELETE
 * /api/streams/<id>/forwards). No React here.
 */
import { ApiError, apiCall } from '../lib/api';
import { SignedOutError } from '../lib/session';

export type PresetId = 'youtube' | 'twitch' | 'facebook' | 'custom';

export interface Preset {
  id: PresetId;
  name: string;
  /** The platform's ingest server (`rtmp[s]://host[:port]/app`); empty for a custom target. */
  server: string;
  /** Where the platform shows the key. */
  keyHelp: string;
}

export const PRESETS: readonly Preset[] = [
  { id: 'youtube', name: 'YouTube', server: 'rtmp://a.rtmp.youtube.com/live2', keyHelp: 'YouTube Studio → Go live → Stream → Stream key' },
  { id: 'twitch', name: 'Twitch', server: 'rtmp://live.twitch.tv/app', keyHelp: 'Twitch Creator Dashboard → Settings → Stream → Primary stream key' },
  { id: 'facebook', name: 'Facebook', server: 'rtmps://live-api-s.facebook.com:443/rtmp', keyHelp: 'Facebook Live Producer → Streaming software → Stream key' },
  { id: 'custom', name: 'Custom', server: '', keyHelp: 'The stream key (or name) the server expects after its application' },
];

export function presetById(id: string): Preset {
  return PRESETS.find((p) => p.id === id) ?? PRESETS[PRESETS.length - 1];
}

export type TargetDraft = { ok: true; url: string; label: string } | { ok: false; error: string };

/**
 * The target a form describes: the preset's server (or the custom one) with the key as its last path part, and a
 * label (the preset's name, or the custom server's host, when none is given). The server checks the URL again.
 */
export function draftTarget(presetId: PresetId, fields: { server?: string; key: string; label?: string }): TargetDraft {
  const preset = presetById(presetId);
  const server = (preset.id === 'custom' ? (fields.server ?? '') : preset.server).trim().replace(/\/+$/, '');
  const key = fields.key.trim().replace(/^\/+/, '');
  if (preset.id === 'custom') {
    if (!server) return { ok: false, error: 'Enter the server URL: rtmp://host[:port]/app or rtmps://…' };
    if (!/^rtmps?:\/\//i.test(server)) return { ok: false, error: 'The server URL must start with rtmp:// or rtmps://' };
    if (!/^rtmps?:\/\/[^/]+\/./i.test(server)) return { ok: false, error: 'The server URL needs an application after the host: rtmp://host[:port]/app' };
  }
  if (!key) return { ok: false, error: `Enter the stream key${preset.id === 'custom' ? '' : ` ${preset.name} gave you`}.` };
  if (/\s/.test(key)) return { ok: false, error: 'The stream key cannot contain spaces.' };
  const label = (fields.label ?? '').trim() || (preset.id === 'custom' ? hostOf(server) : preset.name);
  return { ok: true, url: `${server}/${key}`, label };
}

function hostOf(server: string): string {
  return /^rtmps?:\/\/([^/:]+|\[[^\]]+\])/i.exec(server)?.[1] ?? 'Custom';
}

/** A target as the API shows it (its URL with the key masked). */
export interface ForwardTarget {
  id: string;
  label: string;
  url: string;
  enabled: boolean;
  state: 'idle' | 'disabled' | 'connecting' | 'live' | 'retrying' | 'failed';
  reason?: string;
  retryInSeconds?: number;
  bitrateKbps: number;
}

/** How a target's state reads, and its tone for the badge. */
export function describeState(t: Pick<ForwardTarget, 'state' | 'reason' | 'retryInSeconds' | 'bitrateKbps'>): { text: string; tone: 'good' | 'warn' | 'bad' | 'off' } {
  const reason = t.reason ? `: ${t.reason}` : '';
  const retry = t.retryInSeconds !== undefined ? `${t.retryInSeconds} s` : 'a moment';
  switch (t.state) {
    case 'live':
      return { text: `live · ${Math.max(0, Math.round(t.bitrateKbps))} kbps`, tone: 'good' };
    case 'connecting':
      return { text: t.reason ? `connecting (last try failed${reason})` : 'connecting', tone: 'warn' };
    case 'retrying':
      return { text: `retrying in ${retry}${reason}`, tone: 'warn' };
    case 'failed':
      return { text: `failed${reason || ': no reason given'} (next try in ${retry})`, tone: 'bad' };
    case 'disabled':
      return { text: 'off', tone: 'off' };
    case 'idle':
    default:
      return { text: 'starts when you go live', tone: 'off' };
  }
}

const forwardsOf = (streamId: string) => `/api/streams/${encodeURIComponent(streamId)}/forwards`;

/** GET: every target of the stream with its state. */
export async function listForwards(streamId: string): Promise<ForwardTarget[]> {
  const body = await apiCall<{ forwards?: ForwardTarget[] }>('GET', forwardsOf(streamId));
  return Array.isArray(body.forwards) ? body.forwards : [];
}

export function addForward(streamId: string, target: { url: string; label: string; enabled?: boolean }): Promise<ForwardTarget> {
  return apiCall<ForwardTarget>('POST', forwardsOf(streamId), target);
}

export function setForwardEnabled(streamId: string, id: string, enabled: boolean): Promise<ForwardTarget> {
  return apiCall<ForwardTarget>('PATCH', `${forwardsOf(streamId)}/${encodeURIComponent(id)}`, { enabled });
}

export function removeForward(streamId: string, id: string): Promise<void> {
  return apiCall<void>('DELETE', `${forwardsOf(streamId)}/${encodeURIComponent(id)}`);
}

/** What the panel says when a call failed: `doing` is e.g. "add the target". */
export function explainError(err: unknown, doing: string): { text: string; signedOut: boolean } {
  if (err instanceof SignedOutError) {
    return { text: `Sign in as the operator to ${doing}: the server answered "${err.message}".`, signedOut: true };
  }
  if (err instanceof ApiError) {
    if (err.status === 400) return { text: `The server refused this target: ${err.message}.`, signedOut: false };
    if (err.status === 404) return { text: `Could not ${doing}: ${err.message} (the stream or the target was deleted?).`, signedOut: false };
    if (err.status === 409) return { text: `Could not ${doing}: ${err.message}.`, signedOut: false };
  }
  return { text: `Could not ${doing}: ${(err as Error)?.message ?? String(err)}`, signedOut: false };
}
