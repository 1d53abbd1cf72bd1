import type { FfmpegInfo } from '../ffmpeg/locate';

export interface HealthInput {
  startedAt: number;
  httpPort: number;
  rtmpPort: number | null;
  ffmpeg: FfmpegInfo;
}

/** The body of GET /healthz. */
export function healthReport(h: HealthInput) {
  return {
    status: 'ok' as const,
    uptimeSeconds: Math.round((Date.now() - h.startedAt) / 1000),
    http: { port: h.httpPort },
    rtmp: h.rtmpPort === null ? { listening: false } : { listening: true, port: h.rtmpPort },
    ffmpeg: h.ffmpeg.found
      ? { found: true, path: h.ffmpeg.path, version: h.ffmpeg.version, source: h.ffmpeg.source }
      : { found: false, reason: h.ffmpeg.reason },
  };
}
