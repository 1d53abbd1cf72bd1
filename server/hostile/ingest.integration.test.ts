/**
 * Hostile browser-ingest clients and a failing registry (issue 14 items 4 and 13) against the real server in
 * a child process, while a real publisher, an RTMP player and an LL-HLS viewer watch (server/hostile/suite.ts).
 */
import { ingestIdle } from './attacks/item04-ingest-idle';
import { registryFailure } from './attacks/item13-registry-failure';
import { hostileSuite } from './suite';

hostileSuite('hostile ingest clients and a failing registry', [ingestIdle, registryFailure]);
