/**
 * Hostile HTTP / LL-HLS / WebSocket / browser-ingest clients and a failing registry (issue 14 items 1, 4, 9,
 * 10, 11, 13, 14 and slowloris on HTTP and WebSocket) against the real server in a child process, while a real
 * publisher, an RTMP player and an LL-HLS viewer watch (server/hostile/suite.ts). Short versions here;
 * `npm run hostile` runs the long ones. (One file, one server start: the suite's time in `npm test` matters.)
 */
import { upgradeBadUrl } from './attacks/item01-upgrade-url';
import { ingestIdle } from './attacks/item04-ingest-idle';
import { registryFailure } from './attacks/item13-registry-failure';
import { hlsUnbounded } from './attacks/item09-hls-unbounded';
import { pipelinedReloads } from './attacks/item10-pipelined-reloads';
import { rotatingUserAgent } from './attacks/item11-rotating-ua';
import { badEscapes } from './attacks/item14-bad-escapes';
import { httpSlowloris, wsSlowloris } from './attacks/slowloris';
import { hostileSuite } from './suite';

hostileSuite('hostile HTTP, LL-HLS, WebSocket and ingest clients', [
  badEscapes, httpSlowloris, wsSlowloris, pipelinedReloads, rotatingUserAgent, hlsUnbounded, ingestIdle, registryFailure, upgradeBadUrl,
]);
