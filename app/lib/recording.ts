/** A recording as the API answers it (`GET /api/recordings/<rid>`, the stream's list): public, no file paths. */
export interface Recording {
  id: string;
  streamId: string;
  /** The stream's title when this broadcast started ('' for none). */
  title: string;
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number;
  bytes: number;
  state: 'recording' | 'ended' | 'failed';
  error: string | null;
  /** The thumbnail taken while live, when there is one. */
  thumbnail?: string | null;
  urls: { playlist: string; mp4: string; watch: string };
}
