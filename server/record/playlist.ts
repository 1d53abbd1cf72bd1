/**
 * The HLS playlist of a recording (RFC 8216bis): every segment as a byte range of the recording's file (EXT-X-MAP
 * for its init segment, EXT-X-BYTERANGE for each segment), `VOD` with ENDLIST once the recording is over, `EVENT`
 * while it is still being written (players reload it and may seek anywhere in the broadcast so far).
 */
import type { RecordingRow, SegmentRow } from './store';

export function recordingPlaylist(rec: RecordingRow, segs: readonly SegmentRow[], mediaUri: string): string {
  const live = rec.state === 'recording';
  let max = 1;
  for (const s of segs) max = Math.max(max, s.durationUs / 1e6);
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${Math.ceil(max)}`,
    `#EXT-X-PLAYLIST-TYPE:${live ? 'EVENT' : 'VOD'}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
  ];
  if (segs.every((s) => s.independent)) lines.push('#EXT-X-INDEPENDENT-SEGMENTS');
  lines.push(`#EXT-X-MAP:URI="${mediaUri}",BYTERANGE="${rec.initSize}@0"`);
  const first = segs[0]?.mediaTimeUs ?? 0;
  segs.forEach((s, i) => {
    if (s.discontinuity && i > 0) lines.push('#EXT-X-DISCONTINUITY');
    if (i === 0 || s.discontinuity) {
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(rec.startedAt + Math.round((s.mediaTimeUs - first) / 1000)).toISOString()}`);
    }
    lines.push(`#EXTINF:${(s.durationUs / 1e6).toFixed(5)},`, `#EXT-X-BYTERANGE:${s.size}@${s.offset}`, mediaUri);
  });
  if (!live) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}
