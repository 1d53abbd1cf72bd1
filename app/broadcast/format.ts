/** How /broadcast shows its figures. No React here. */

export { formatDuration } from '../lib/clock';

export function formatBitrate(bps: number): string {
  if (!Number.isFinite(bps) || bps <= 0) return '0 kbit/s';
  if (bps >= 1_000_000) return `${(bps / 1_000_000).toFixed(2)} Mbit/s`;
  return `${Math.round(bps / 1000)} kbit/s`;
}

export function num(v: number | undefined, digits = 0): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–';
}

/** The video codec of a MediaRecorder MIME type, as people call it. */
export function codecOf(mimeType: string | null): string {
  const codecs = /codecs=([^;]*)/i.exec(mimeType ?? '')?.[1] ?? '';
  const video = codecs.split(',')[0]?.trim().toLowerCase() ?? '';
  if (/^(h264|avc1)/.test(video) || (!video && /mp4/i.test(mimeType ?? ''))) return 'H.264';
  if (video) return video.toUpperCase();
  return mimeType ?? '–';
}
