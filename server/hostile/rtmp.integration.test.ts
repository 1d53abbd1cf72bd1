/**
 * Hostile RTMP clients (issue 14 items 2, 3, 5, 6, 7, 8, 12 and RTMP slowloris) against the real server in a
 * child process, while a real publisher, an RTMP player and an LL-HLS viewer watch (server/hostile/suite.ts).
 * Short versions here; `npm run hostile` runs the long ones.
 */
import { amfReferences } from './attacks/item02-amf-references';
import { tinyMessages } from './attacks/item03-tiny-messages';
import { rtmpSlots } from './attacks/item05-rtmp-slots';
import { unreadReplies } from './attacks/item06-unread-replies';
import { partialMessages } from './attacks/item07-partial-messages';
import { privateGop } from './attacks/item08-private-gop';
import { logStrings } from './attacks/item12-log-strings';
import { hostileSuite } from './suite';

hostileSuite('hostile RTMP clients', [rtmpSlots, logStrings, unreadReplies, partialMessages, privateGop, tinyMessages, amfReferences], {
  // Small enough that one attacker can reach it in a few seconds (item 5).
  env: { RTMP_MAX_CONNECTIONS: '64' },
});
