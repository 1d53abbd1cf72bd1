/**
 * Hostile HTTP / LL-HLS / WebSocket clients (issue 14 items 1, 9, 10, 11, 14 and slowloris on HTTP and
 * WebSocket) against the real server in a child process, while a real publisher, an RTMP player and an
 * LL-HLS viewer watch (server/hostile/suite.ts). Short versions here; `npm run hostile` runs the long ones.
 */
import { upgradeBadUrl } from './attacks/item01-upgrade-url';
import { hlsUnbounded } from './attacks/item09-hls-unbounded';
import { pipelinedReloads } from './attacks/item10-pipelined-reloads';
import { rotatingUserAgent } from './attacks/item11-rotating-ua';
import { badEscapes } from './attacks/item14-bad-escapes';
import { httpSlowloris, wsSlowloris } from './attacks/slowloris';
import { hostileSuite } from './suite';

hostileSuite('hostile HTTP, LL-HLS and WebSocket clients', [badEscapes, httpSlowloris, wsSlowloris, pipelinedReloads, rotatingUserAgent, hlsUnbounded, upgradeBadUrl]);
