/**
 * Thrown for every malformed or out-of-bounds RTMP/AMF input. Callers should
 * treat it as fatal for the connection that produced the bytes.
 */
export class RtmpProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RtmpProtocolError';
  }
}
