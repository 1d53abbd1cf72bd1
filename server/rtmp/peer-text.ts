/**
 * Strings that come from a peer (an `app`, a command name, a stream name) on their way into a log line or an error
 * message: at most `max` characters, control characters replaced, and the original length said when cut. A peer may
 * send strings of up to a command message's size (chunk.ts DEFAULT_MAX_COMMAND_SIZE); none of that reaches a log.
 */
export const PEER_TEXT_MAX = 64;

export function peerText(s: unknown, max = PEER_TEXT_MAX): string {
  const str = typeof s === 'string' ? s : String(s);
  const cut = str.length > max ? str.slice(0, max) : str;
  // eslint-disable-next-line no-control-regex
  const clean = cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return str.length > max ? `${clean}...(${str.length} chars)` : clean;
}
